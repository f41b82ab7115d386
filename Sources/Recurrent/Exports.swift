// `import Recurrent` brings in every layer of the library.
@_exported import RecurrentKernels
@_exported import RecurrentTensor
@_exported import RecurrentNN
@_exported import RecurrentTraining
@_exported import RecurrentIO
@_exported import RecurrentTasks

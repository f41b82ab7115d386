import Recurrent

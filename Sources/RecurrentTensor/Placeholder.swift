public enum RecurrentTensorPlaceholder {}

/// The library's version.
public let recurrentVersion = "0.1.0"

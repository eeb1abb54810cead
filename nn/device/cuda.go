package device

func openCUDA() (Device, error) { return nil, ErrUnavailable }

module trackstack/native/esfront

go 1.22

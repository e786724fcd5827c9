module github.com/goei/goei

go 1.26

require github.com/ergo-services/ergo v1.999.224

module github.com/goei/goei

go 1.26.0

require github.com/ergo-services/ergo v1.999.224

require golang.org/x/net v0.62.0

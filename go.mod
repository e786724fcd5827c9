module github.com/goei/goei

go 1.26

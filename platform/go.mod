module github.com/docker-examples/stack/platform

go 1.26.8

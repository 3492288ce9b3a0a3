module github.com/docker-examples/stack/services/api

go 1.26.8

require github.com/docker-examples/stack/platform v0.0.0

replace github.com/docker-examples/stack/platform => ../../platform

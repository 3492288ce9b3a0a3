module github.com/docker-examples/stack/services/lb

go 1.26.8

require github.com/docker-examples/stack/platform v0.0.0

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
)

replace github.com/docker-examples/stack/platform => ../../platform

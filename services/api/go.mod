module github.com/docker-examples/stack/services/api

go 1.26.8

require (
	github.com/docker-examples/stack/platform v0.0.0
	github.com/redis/go-redis/v9 v9.23.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/docker-examples/stack/platform => ../../platform

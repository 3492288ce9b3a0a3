module github.com/docker-examples/stack/migrations

go 1.26.8

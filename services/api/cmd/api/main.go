// Command api is the REST API of the image inventory. Its subcommands are
// described in package app, which holds the program.
package main

import (
	"github.com/docker-examples/stack/platform/command"
	"github.com/docker-examples/stack/services/api/internal/app"
)

func main() { command.Main("api", app.Run) }

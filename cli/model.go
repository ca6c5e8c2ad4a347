package cli

import (
	"io"

	"github.com/alecthomas/kong"
)

// Model returns the kong model of the command line that Main parses, for
// generating documentation from it (internal/mangen writes the man page).
func Model(b Build) (*kong.Application, error) {
	var cli CLI
	parser, err := newParser(&cli, b, io.Discard, io.Discard)
	if err != nil {
		return nil, err
	}
	return parser.Model, nil
}

package store

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/refresh-token/refresh-token/internal/exit"
)

// sqliteMagic opens every SQLite database file. Schwabdev, another Schwab
// client, keeps its tokens in one (tokens.db) instead of a JSON file.
var sqliteMagic = []byte("SQLite format 3\x00")

// errSchwabdev is the error for a token file that is a SQLite database.
func errSchwabdev() *exit.Error {
	return exit.Fail(exit.Data,
		"Schwabdev keeps and refreshes its own tokens in that database; point --token-file at a schwab-py JSON token file, or create one with 'refresh-token login'",
		"token file: a SQLite database (Schwabdev's token store), not a schwab-py JSON token file")
}

// CheckSchwabdev refuses a token file that is a SQLite database, before the
// run takes its lock, so that no lock file is left beside another
// program's database. A file it cannot read, or that is not a regular file,
// passes: ReadTokenFile reports that under the lock.
func CheckSchwabdev(path string) error {
	f, err := OpenRegular(path, os.O_RDONLY, 0, false)
	if err != nil {
		return nil
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return nil
	}
	return fmt.Errorf("%s: %w", path, errSchwabdev())
}

package testutil

// SchwabdevDB is the start of a Schwabdev tokens.db: a SQLite database
// where a token file belongs.
var SchwabdevDB = append([]byte("SQLite format 3\x00\x10\x00\x01\x01\x00\x40\x20\x20"), make([]byte, 100)...)

// Package packaging holds the test of the release's .deb: its fields, files and conffiles.
package packaging

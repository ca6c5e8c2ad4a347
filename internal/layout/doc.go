// Package layout holds the tests that keep the imports between the rooms running one way and the docs' links resolving.
package layout

// Package layout holds the test that keeps the imports between the rooms running one way.
package layout

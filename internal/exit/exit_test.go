package exit

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodeAndHint(t *testing.T) {
	busy := Fail(TempFail, "wait", "lock %s busy", "x")
	tests := []struct {
		name string
		err  error
		code int
		hint string
	}{
		{"nil", nil, OK, ""},
		{"no code is a bug", errors.New("plain"), Software, ""},
		{"carried", busy, TempFail, "wait"},
		{"wrapped", fmt.Errorf("run: %w", busy), TempFail, "wait"},
		{"no hint", Fail(Config, "", "bad"), Config, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.code {
				t.Errorf("Code = %d, want %d", got, tt.code)
			}
			if got := Hint(tt.err); got != tt.hint {
				t.Errorf("Hint = %q, want %q", got, tt.hint)
			}
		})
	}
	if busy.Error() != "lock x busy" || !errors.Is(fmt.Errorf("w: %w", busy), busy) {
		t.Errorf("message %q, or the chain is broken", busy.Error())
	}
}

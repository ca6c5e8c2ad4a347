package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
)

// span is a stretch of time during which the bot's newest token had expired.
type span struct {
	From, To time.Time
}

func (s span) Len() time.Duration { return s.To.Sub(s.From) }

// expiredSpans reads the bot's record: from each valid message until the
// next one (or end), the bot holds that message's token; where the token's
// expires_at comes before the next message, the bot held an expired token.
// The time before the first message does not count: the bot had no token.
func expiredSpans(recs []harness.Received, end time.Time) []span {
	var ok []harness.Received
	for _, r := range recs {
		if r.OK {
			ok = append(ok, r)
		}
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i].ReceivedAt < ok[j].ReceivedAt })
	var spans []span
	for i, r := range ok {
		next := end
		if i+1 < len(ok) {
			next = time.Unix(0, ok[i+1].ReceivedAt)
		}
		if exp := time.Unix(r.ExpiresAt, 0); exp.Before(next) {
			spans = append(spans, span{From: exp, To: next})
		}
	}
	return spans
}

// outage is the window during which the token endpoint failed.
type outage struct {
	From, To time.Time
}

func (o outage) Len() time.Duration { return o.To.Sub(o.From) }

// checkHeld applies the promise of the retry policy to the bot's record:
// the bot never holds an expired token longer than the outage plus one
// retry, and it has a valid token again within one retry of the outage's
// end. It returns one line per broken promise.
func checkHeld(spans []span, o outage, retry time.Duration) []string {
	var problems []string
	for _, s := range spans {
		if s.Len() > o.Len()+retry {
			problems = append(problems, fmt.Sprintf("held an expired token for %s (%s to %s), longer than the outage (%s) plus one retry (%s)",
				s.Len().Round(time.Millisecond), s.From.Format("15:04:05.000"), s.To.Format("15:04:05.000"), o.Len(), retry))
		}
		if deadline := o.To.Add(retry); s.To.After(deadline) {
			problems = append(problems, fmt.Sprintf("got a valid token only at %s, %s after the outage ended (one retry is %s)",
				s.To.Format("15:04:05.000"), s.To.Sub(o.To).Round(time.Millisecond), retry))
		}
	}
	return problems
}

func TestExpiredSpans(t *testing.T) {
	base := time.Unix(1_000_000, 0)
	at := func(sec float64) int64 { return base.Add(time.Duration(sec * float64(time.Second))).UnixNano() }
	msg := func(recv float64, expiresAt int64, ok bool) harness.Received {
		return harness.Received{Message: harness.Message{ExpiresAt: base.Unix() + expiresAt}, ReceivedAt: at(recv), OK: ok}
	}
	recs := []harness.Received{
		msg(50.2, 80, true), // out of order on purpose
		msg(0.1, 30, true),
		msg(25.1, 55, false), // invalid: the bot ignores it
		msg(75.3, 105, true),
	}
	end := base.Add(110 * time.Second)
	got := expiredSpans(recs, end)
	want := []span{
		{base.Add(30 * time.Second), base.Add(50200 * time.Millisecond)},
		{base.Add(105 * time.Second), end},
	}
	if len(got) != len(want) {
		t.Fatalf("spans = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].From.Equal(want[i].From) || !got[i].To.Equal(want[i].To) {
			t.Errorf("span %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestCheckHeld(t *testing.T) {
	base := time.Unix(1_000_000, 0)
	sec := func(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }
	o := outage{From: sec(21), To: sec(30)}
	retry := 7 * time.Second
	tests := []struct {
		name  string
		spans []span
		want  []string // substrings, one per expected problem
	}{
		{"no expired token", nil, nil},
		{"restored by a retry", []span{{sec(30), sec(33)}}, nil},
		{"restored at the next tick, the seed's flaw", []span{{sec(30), sec(50.1)}},
			[]string{"longer than the outage", "after the outage ended"}},
		{"short but late", []span{{sec(45), sec(47)}}, []string{"after the outage ended"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkHeld(tt.spans, o, retry)
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to say %q", i, got[i], w)
				}
			}
		})
	}
}

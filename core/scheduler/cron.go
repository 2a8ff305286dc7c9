package scheduler

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	_ "time/tzdata" // time zones work without the system's zoneinfo

	"github.com/jobgraph/jobgraph/core"
)

// Limits on cron expressions and previews.
const (
	// MaxExpressionLen bounds an expression's length in bytes.
	MaxExpressionLen = 200
	// MaxPreview is the most fire times NextN (and the API) gives at once.
	MaxPreview = 100
	// MinEvery is the shortest @every interval.
	MinEvery = time.Second
)

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// maxShift bounds how far a daylight-saving change (or any change of a
// zone's UTC offset) moves the wall clock. Real ones are 1h, at most 2h.
const maxShift = 3 * time.Hour

// Cron is a parsed cron expression in a time zone. Its fire times follow
// the wall clock of the zone with ISC cron's rules for daylight-saving
// changes (see the package documentation):
//
//   - a fixed-time expression (the second, minute and hour fields name
//     particular values: no '*', '?' or step) whose time falls in a
//     spring-forward gap fires once, at the first instant after the gap;
//     on a fall-back day it fires once, at the first of the two instants
//     that show its time;
//   - any other expression fires at every real instant whose wall-clock
//     time matches, so "*/30 * * * *" fires four times in a repeated hour
//     and not at all in a skipped one;
//   - "@every D" fires every D of real time, whatever the zone.
type Cron struct {
	expr  string
	loc   *time.Location
	spec  *cron.SpecSchedule         // wall-clock fields, Location = UTC
	every cron.ConstantDelaySchedule // when spec is nil
	fixed bool
}

// ParseCron parses expr (five fields, or six with seconds first, or one of
// @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly,
// @every <duration>) in the time zone tz (an IANA name such as
// "Europe/Berlin"; "" and "UTC" mean UTC). Errors are *core.ValidationError
// on "expression" or "timeZone".
func ParseCron(expr, tz string) (*Cron, error) {
	loc, err := LoadZone(tz)
	if err != nil {
		return nil, err
	}
	expr = strings.Join(strings.Fields(expr), " ")
	switch {
	case expr == "":
		return nil, core.Invalid("expression", "is required")
	case len(expr) > MaxExpressionLen:
		return nil, core.Invalid("expression", "must be at most %d bytes", MaxExpressionLen)
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return nil, core.Invalid("expression", "must not name a time zone: set timeZone instead")
	}
	if d, ok := strings.CutPrefix(expr, "@every "); ok {
		if v, err := time.ParseDuration(d); err == nil && v < MinEvery {
			return nil, core.Invalid("expression", "@every must be at least %s", MinEvery)
		}
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, core.Invalid("expression", "%q does not parse: %v", expr, err)
	}
	c := &Cron{expr: expr, loc: loc}
	switch s := s.(type) {
	case *cron.SpecSchedule:
		spec := *s
		spec.Location = time.UTC
		c.spec = &spec
		c.fixed = isFixed(expr, s)
	case cron.ConstantDelaySchedule:
		c.every = s
	default:
		return nil, fmt.Errorf("cron: unexpected schedule type %T", s)
	}
	return c, nil
}

// starBit is robfig/cron's mark of a field given as '*' or '?'.
const starBit = 1 << 63

// isFixed reports whether the expression names particular seconds, minutes
// and hours (ISC cron's "fixed-time job").
func isFixed(expr string, s *cron.SpecSchedule) bool {
	if strings.HasPrefix(expr, "@") {
		return s.Hour&starBit == 0 && s.Minute&starBit == 0
	}
	f := strings.Fields(expr)
	timeFields := f[:2] // minute, hour
	if len(f) == 6 {
		timeFields = f[:3] // second, minute, hour
	}
	return !strings.ContainsAny(strings.Join(timeFields, " "), "*?/")
}

// LoadZone returns the location named tz ("" is UTC), or a
// *core.ValidationError on "timeZone".
func LoadZone(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	if strings.EqualFold(tz, "local") {
		return nil, core.Invalid("timeZone", "must be an IANA time zone such as Europe/Berlin, not Local")
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, core.Invalid("timeZone", "unknown time zone %q", truncate(tz, 64))
	}
	return loc, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Expression returns the normalised expression.
func (c *Cron) Expression() string { return c.expr }

// Location returns the time zone.
func (c *Cron) Location() *time.Location { return c.loc }

// Next returns the first fire time strictly after after, in UTC, or the
// zero time if there is none in the next five years ("0 0 30 2 *").
func (c *Cron) Next(after time.Time) time.Time {
	if c.spec == nil {
		return c.every.Next(after).UTC()
	}
	// Wall-clock times before start cannot fire after after, even across a
	// change of offset: start is after's wall clock moved back by how much
	// smaller the offset of a zone that follows after may be.
	a := after.In(c.loc)
	cur, lo, hi := zoneOffsets(a)
	start := naive(a).Add(-time.Duration(cur-lo) * time.Second)
	var best time.Time
	w := start
	for {
		w = c.spec.Next(w)
		if w.IsZero() {
			return best
		}
		if !best.IsZero() {
			// A later wall-clock time can fire earlier than best only at an
			// offset larger than best's, of a zone in effect after after.
			b := best.In(c.loc)
			bcur, _, bhi := zoneOffsets(b)
			if w.After(naive(b).Add(time.Duration(max(hi, bhi)-bcur) * time.Second)) {
				return best
			}
		}
		for _, t := range c.instants(w) {
			if t.After(after) && (best.IsZero() || t.Before(best)) {
				best = t
			}
		}
	}
}

// NextN returns the first n (at most MaxPreview) fire times after after.
func (c *Cron) NextN(after time.Time, n int) []time.Time {
	n = min(n, MaxPreview)
	out := make([]time.Time, 0, max(n, 0))
	for len(out) < n {
		t := c.Next(after)
		if t.IsZero() {
			break
		}
		out = append(out, t)
		after = t
	}
	return out
}

// instants returns the real instants (UTC) at which wall-clock time w (a
// time whose UTC fields are the wall clock's) fires, following the rules
// on Cron.
func (c *Cron) instants(w time.Time) []time.Time {
	u := w.Unix()
	t0 := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, c.loc)
	_, off0 := t0.Zone()
	offsets := []int{off0}
	zs, ze := t0.ZoneBounds()
	if !zs.IsZero() {
		_, o := zs.Add(-time.Second).Zone()
		offsets = append(offsets, o)
	}
	if !ze.IsZero() {
		_, o := ze.Zone()
		offsets = append(offsets, o)
	}
	var out []time.Time
	for _, o := range offsets {
		t := time.Unix(u-int64(o), 0).In(c.loc)
		if _, got := t.Zone(); got == o && !slices.ContainsFunc(out, t.Equal) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	switch {
	case len(out) > 1 && c.fixed:
		out = out[:1] // fall-back: the first of the repeated instants
	case len(out) == 0 && c.fixed:
		// Spring-forward gap: the first instant after it, which is the
		// start of the zone in effect at the latest candidate instant.
		latest := time.Unix(u-int64(slices.Min(offsets)), 0).In(c.loc)
		gapEnd, _ := latest.ZoneBounds()
		if !gapEnd.IsZero() {
			out = append(out, gapEnd)
		}
	}
	for i := range out {
		out[i] = out[i].UTC()
	}
	return out
}

// naive returns t's wall-clock fields as a UTC time.
func naive(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// zoneOffsets returns the UTC offset (seconds) at t and the smallest and
// largest offset of t's zone and of the zone that follows it within
// maxShift.
func zoneOffsets(t time.Time) (cur, lo, hi int) {
	_, cur = t.Zone()
	lo, hi = cur, cur
	if _, end := t.ZoneBounds(); !end.IsZero() && end.Sub(t) <= maxShift {
		_, o := end.Zone()
		lo, hi = min(lo, o), max(hi, o)
	}
	return cur, lo, hi
}

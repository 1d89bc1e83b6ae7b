// Generates time_golden.json: Go's own answers for formatting, parsing and calendar
// arithmetic, which tests/modules/test_time_value.py compares the Lua implementation to.
// Run: cd tests/modules/golden && go run gen_time.go > time_golden.json
package main

import (
	"encoding/json"
	"os"
	"time"
)

type fmtCase struct {
	Sec    int64  `json:"sec"`
	Nsec   int64  `json:"nsec"`
	Loc    string `json:"loc"`
	Layout string `json:"layout"`
	Out    string `json:"out"`
}

type parseCase struct {
	Layout string `json:"layout"`
	Value  string `json:"value"`
	Loc    string `json:"loc"`
	Ok     bool   `json:"ok"`
	Sec    int64  `json:"sec"`
	Nsec   int64  `json:"nsec"`
	Zone   string `json:"zone"`
	Offset int    `json:"offset"`
	Err    string `json:"err"`
}

type dateCase struct {
	Args [7]int  `json:"args"`
	Loc  string  `json:"loc"`
	Sec  int64   `json:"sec"`
	Nsec int64   `json:"nsec"`
	Str  string  `json:"str"`
	Add  [3]int  `json:"add"`
	AddS string  `json:"add_str"`
	Wd   int     `json:"weekday"`
	Yd   int     `json:"yday"`
}

type roundCase struct {
	Sec      int64  `json:"sec"`
	Nsec     int64  `json:"nsec"`
	D        int64  `json:"d"`
	RoundS   int64  `json:"round_sec"`
	RoundN   int64  `json:"round_nsec"`
	TruncS   int64  `json:"trunc_sec"`
	TruncN   int64  `json:"trunc_nsec"`
}

var locs = map[string]*time.Location{}

func loc(name string) *time.Location {
	if l, ok := locs[name]; ok {
		return l
	}
	var l *time.Location
	switch name {
	case "UTC":
		l = time.UTC
	case "fixed+0530":
		l = time.FixedZone("IST", 5*3600+30*60)
	case "fixed-031530":
		l = time.FixedZone("", -(3*3600 + 15*60 + 30))
	case "fixed0":
		l = time.FixedZone("", 0)
	default:
		var err error
		l, err = time.LoadLocation(name)
		if err != nil {
			panic(err)
		}
	}
	locs[name] = l
	return l
}

func main() {
	out := map[string]any{}

	instants := []time.Time{
		time.Date(2024, 1, 15, 14, 30, 45, 123456789, time.UTC),
		time.Date(2024, 7, 4, 0, 5, 9, 0, time.UTC),
		time.Date(2024, 12, 31, 12, 0, 0, 100000000, time.UTC),
		time.Date(2023, 3, 1, 23, 59, 59, 999999999, time.UTC),
		time.Date(1999, 2, 3, 4, 5, 6, 7, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC),
		time.Date(2024, 3, 10, 7, 30, 0, 0, time.UTC),
		time.Date(2024, 11, 3, 5, 30, 0, 0, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC),
	}
	locNames := []string{"UTC", "fixed+0530", "fixed-031530", "fixed0", "America/New_York", "Asia/Kolkata",
		"Australia/Sydney", "Europe/London"}
	layouts := []string{
		time.Layout, time.ANSIC, time.UnixDate, time.RubyDate, time.RFC822, time.RFC822Z, time.RFC850,
		time.RFC1123, time.RFC1123Z, time.RFC3339, time.RFC3339Nano, time.Kitchen, time.Stamp,
		time.StampMilli, time.StampMicro, time.StampNano, time.DateTime, time.DateOnly, time.TimeOnly,
		"2006-01-02T15:04:05.000000Z07:00", "06 1 2 3 4 5 pm PM", "_2 __2 002", "Monday January Mon Jan",
		"15:04:05,000", "05.9 05.99 05.999999 05.000", "Z07 -07 -07:00:00 Z070000 -070000 Z07:00:00",
		"MST", "Jan Janx Monx Mon", "2006_2006 _2006", "03:04:05PM", "literal text 2006!", "",
		"2006-002", ".0 .00", "15h04m05s",
	}
	var fmts []fmtCase
	for _, t := range instants {
		for _, ln := range locNames {
			for _, layout := range layouts {
				tt := t.In(loc(ln))
				fmts = append(fmts, fmtCase{t.Unix(), int64(t.Nanosecond()), ln, layout, tt.Format(layout)})
			}
		}
	}
	out["format"] = fmts

	type pin struct{ layout, value, loc string }
	pins := []pin{
		{time.RFC3339, "2024-01-15T14:30:45Z", "UTC"},
		{time.RFC3339, "2024-01-15T14:30:45+05:30", "UTC"},
		{time.RFC3339, "2024-01-15T14:30:45-05:00", "America/New_York"},
		{time.RFC3339, "2024-07-15T14:30:45-05:00", "America/New_York"},
		{time.RFC3339, "2024-07-15T14:30:45-04:00", "America/New_York"},
		{time.RFC3339, "2024-01-15T14:30:45.123Z", "UTC"},
		{time.RFC3339Nano, "2024-01-15T14:30:45.123456789Z", "UTC"},
		{time.RFC3339Nano, "2024-01-15T14:30:45Z", "UTC"},
		{time.RFC3339, "2024-01-15 14:30:45Z", "UTC"},
		{time.RFC3339, "2024-13-15T14:30:45Z", "UTC"},
		{time.RFC3339, "2024-01-32T14:30:45Z", "UTC"},
		{time.RFC3339, "2024-01-15T24:30:45Z", "UTC"},
		{time.RFC3339, "2024-01-15T14:60:45Z", "UTC"},
		{time.RFC3339, "2024-01-15T14:30:45Zjunk", "UTC"},
		{time.RFC3339, "bogus", "UTC"},
		{time.DateTime, "2024-01-15 14:30:00", "UTC"},
		{time.DateTime, "2024-01-15 14:30:00", "America/New_York"},
		{time.DateTime, "2024-03-10 02:30:00", "America/New_York"},
		{time.DateTime, "2024-11-03 01:30:00", "America/New_York"},
		{time.DateTime, "2024-01-15 14:30:00.25", "UTC"},
		{time.DateOnly, "2024-02-29", "UTC"},
		{time.DateOnly, "2023-02-29", "UTC"},
		{time.DateOnly, "2024-2-29", "UTC"},
		{time.TimeOnly, "15:04:05", "UTC"},
		{time.Kitchen, "3:04PM", "UTC"},
		{time.Kitchen, "12:00AM", "UTC"},
		{time.Kitchen, "12:00PM", "UTC"},
		{time.Kitchen, "3:04XM", "UTC"},
		{"3:04pm", "11:15am", "UTC"},
		{time.RFC1123, "Mon, 15 Jan 2024 14:30:45 UTC", "UTC"},
		{time.RFC1123, "Mon, 15 Jan 2024 14:30:45 EST", "America/New_York"},
		{time.RFC1123, "Mon, 15 Jan 2024 14:30:45 EST", "UTC"},
		{time.RFC1123, "Mon, 15 Jul 2024 14:30:45 EDT", "America/New_York"},
		{time.RFC1123, "Mon, 15 Jan 2024 14:30:45 GMT+3", "UTC"},
		{time.RFC1123Z, "Mon, 15 Jan 2024 14:30:45 +0100", "UTC"},
		{time.RFC822, "15 Jan 24 14:30 MST", "UTC"},
		{time.RFC850, "Monday, 15-Jan-24 14:30:45 UTC", "UTC"},
		{time.ANSIC, "Mon Jan  5 14:30:45 2024", "UTC"},
		{time.ANSIC, "Mon Jan 15 14:30:45 2024", "UTC"},
		{time.UnixDate, "Mon Jan 15 14:30:45 PST 2024", "UTC"},
		{time.StampMilli, "Jan 15 14:30:45.123", "UTC"},
		{"January 2, 2006", "february 29, 2024", "UTC"},
		{"Jan 2 2006", "Foo 2 2024", "UTC"},
		{"2006-002", "2024-060", "UTC"},
		{"2006-002", "2023-060", "UTC"},
		{"2006-002", "2024-367", "UTC"},
		{"02/01/06", "15/01/24", "UTC"},
		{"02/01/06", "15/01/68", "UTC"},
		{"02/01/06", "15/01/69", "UTC"},
		{"2006-01-02T15:04:05.000Z0700", "2024-01-15T14:30:45.120+0200", "UTC"},
		{"2006-01-02T15:04:05.000Z0700", "2024-01-15T14:30:45.12+0200", "UTC"},
		{"2006-01-02T15:04:05.999999999", "2024-01-15T14:30:45", "UTC"},
		{"2006-01-02T15:04:05Z07", "2024-01-15T14:30:45-03", "UTC"},
		{"2006-01-02T15:04:05-07:00:00", "2024-01-15T14:30:45-03:15:30", "UTC"},
		{"2006-01-02 15:04:05 -0700", "2024-01-15 14:30:45 +2500", "UTC"},
		{"2006-01-02", "  2024-01-15", "UTC"},
		{"2006 01 02", "2024  01 02", "UTC"},
		{"", "", "UTC"},
		{"", "x", "UTC"},
		{"15:04:05", "25:00:00", "UTC"},
	}
	var parses []parseCase
	for _, p := range pins {
		t, err := time.ParseInLocation(p.layout, p.value, loc(p.loc))
		c := parseCase{Layout: p.layout, Value: p.value, Loc: p.loc}
		if err != nil {
			c.Err = err.Error()
		} else {
			c.Ok = true
			c.Sec, c.Nsec = t.Unix(), int64(t.Nanosecond())
			c.Zone, c.Offset = t.Zone()
		}
		parses = append(parses, c)
	}
	out["parse"] = parses

	dates := [][7]int{
		{2024, 1, 15, 14, 30, 45, 0},
		{2024, 14, 35, 25, 61, 61, 1000000005},
		{2024, 0, 0, 0, 0, 0, 0},
		{2024, -1, 1, -1, 0, 0, -1},
		{2024, 1, 31, 0, 0, 0, 0},
		{2023, 12, 31, 23, 59, 59, 999999999},
		{2024, 3, 10, 2, 30, 0, 0},
		{2024, 11, 3, 1, 30, 0, 0},
		{1, 1, 1, 0, 0, 0, 0},
		{1600, 2, 29, 12, 0, 0, 0},
		{2100, 2, 29, 12, 0, 0, 0},
	}
	adds := [][3]int{{0, 1, 0}, {1, 0, 0}, {0, 0, 45}, {-1, -13, -400}, {0, 1, 1}}
	var dcs []dateCase
	for i, a := range dates {
		for _, ln := range []string{"UTC", "America/New_York", "fixed-031530", "Australia/Sydney"} {
			t := time.Date(a[0], time.Month(a[1]), a[2], a[3], a[4], a[5], a[6], loc(ln))
			ad := adds[i%len(adds)]
			t2 := t.AddDate(ad[0], ad[1], ad[2])
			dcs = append(dcs, dateCase{a, ln, t.Unix(), int64(t.Nanosecond()), t.String(), ad, t2.String(),
				int(t.Weekday()), t.YearDay()})
		}
	}
	out["date"] = dcs

	var rcs []roundCase
	rt := []time.Time{
		time.Date(2024, 1, 15, 14, 30, 45, 123456789, time.UTC),
		time.Date(2024, 1, 15, 14, 45, 0, 0, time.UTC),
		time.Date(1969, 7, 20, 20, 17, 40, 500000000, time.UTC),
	}
	ds := []time.Duration{time.Hour, 7 * 24 * time.Hour, 90 * time.Minute, 1500 * time.Millisecond, 7, time.Second,
		time.Microsecond, 24 * time.Hour, 0, -time.Hour, 333333333333}
	for _, t := range rt {
		for _, d := range ds {
			r, tr := t.Round(d), t.Truncate(d)
			rcs = append(rcs, roundCase{t.Unix(), int64(t.Nanosecond()), int64(d), r.Unix(), int64(r.Nanosecond()),
				tr.Unix(), int64(tr.Nanosecond())})
		}
	}
	out["round"] = rcs

	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}

package promhistory

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// series makes samples every step from t0 with the given values.
func series(step time.Duration, values ...float64) Series {
	s := Series{Name: `disk_used_bytes{target="pg"}`}
	for i, v := range values {
		s.Samples = append(s.Samples, Sample{At: t0.Add(time.Duration(i) * step), Value: v})
	}
	return s
}

func TestFit(t *testing.T) {
	hour := time.Hour
	for _, tc := range []struct {
		name      string
		s         Series
		threshold float64
		ok        bool
		slope     float64 // per second
		reaches   time.Time
	}{
		// 1 GiB an hour from 10 GiB: 90 GiB is reached 80 hours after the first sample
		{"known slope", series(hour, 10<<30, 11<<30, 12<<30, 13<<30, 14<<30), 90 << 30, true,
			float64(1<<30) / 3600, t0.Add(80 * hour)},
		// noise around y = 100 + 2x (per hour) that cancels in the fit: 2/h, 200 at 50 h
		{"noisy", series(hour, 101, 101, 103, 107), 200, true, 2.0 / 3600, t0.Add(50 * hour)},
		{"already past", series(hour, 10, 20, 30), 15, true, 10.0 / 3600, t0.Add(30 * time.Minute)},
		{"flat", series(hour, 5, 5, 5, 5), 10, false, 0, time.Time{}},
		{"falling", series(hour, 9, 8, 7), 10, false, 0, time.Time{}},
		{"one sample", series(hour, 1), 10, false, 0, time.Time{}},
		{"no samples", Series{}, 10, false, 0, time.Time{}},
		{"one time", Series{Samples: []Sample{{t0, 1}, {t0, 2}}}, 10, false, 0, time.Time{}},
		{"beyond a century", series(hour, 0, 1e-9), 1, false, 0, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := Fit(tc.s, tc.threshold)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v (%+v)", ok, tc.ok, f)
			}
			if !ok {
				return
			}
			if d := f.Slope/tc.slope - 1; d > 1e-9 || d < -1e-9 {
				t.Errorf("slope %g/s, want %g/s", f.Slope, tc.slope)
			}
			if d := f.Reaches.Sub(tc.reaches); d > time.Second || d < -time.Second {
				t.Errorf("reaches %s, want %s", f.Reaches, tc.reaches)
			}
			n := len(tc.s.Samples)
			if f.Series != tc.s.Name || f.N != n || !f.From.Equal(t0) || !f.To.Equal(tc.s.Samples[n-1].At) {
				t.Errorf("forecast %+v does not say which samples it came from", f)
			}
		})
	}
}

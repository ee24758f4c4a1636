package promhistory

import (
	"math"
	"time"
)

// maxAhead is the farthest forecast: beyond it a date means nothing (and time.Duration
// overflows at 292 years).
const maxAhead = 100 * 365 * 24 * time.Hour

// Forecast is when a growing series reaches a threshold, by a least-squares line through
// its samples.
type Forecast struct {
	// Series names the series the forecast was fitted on.
	Series string
	// Slope is the fitted growth, in the series' unit per second.
	Slope float64
	// Reaches is when the fitted line reaches the threshold (in the past when the series is
	// already there).
	Reaches time.Time
	// From and To bound the samples fitted; N is how many.
	From, To time.Time
	N        int
}

// Fit fits a least-squares line through the samples of s and says when it reaches
// threshold. There is no forecast (ok false) with fewer than two samples at distinct times,
// or when the series is flat or falling (it never reaches a threshold above it), or grows so
// slowly that the date is more than a century away.
func Fit(s Series, threshold float64) (f Forecast, ok bool) {
	n := len(s.Samples)
	if n < 2 {
		return Forecast{}, false
	}
	// x in seconds from the first sample, so that Unix times do not eat the precision
	t0 := s.Samples[0].At
	var sx, sy float64
	for _, p := range s.Samples {
		sx += p.At.Sub(t0).Seconds()
		sy += p.Value
	}
	mx, my := sx/float64(n), sy/float64(n)
	var sxy, sxx float64
	for _, p := range s.Samples {
		dx := p.At.Sub(t0).Seconds() - mx
		sxy += dx * (p.Value - my)
		sxx += dx * dx
	}
	if sxx == 0 {
		return Forecast{}, false
	}
	slope := sxy / sxx
	if !(slope > 0) || math.IsInf(slope, 0) {
		return Forecast{}, false
	}
	secs := mx + (threshold-my)/slope
	if secs > maxAhead.Seconds() {
		return Forecast{}, false
	}
	return Forecast{
		Series:  s.Name,
		Slope:   slope,
		Reaches: t0.Add(time.Duration(secs * float64(time.Second))),
		From:    t0,
		To:      s.Samples[n-1].At,
		N:       n,
	}, true
}

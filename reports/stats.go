package reports

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// confidence is the coverage of the intervals in seedStat.
const confidence = 0.95

// seedStat summarises a metric over the seeds of one configuration.
type seedStat struct {
	N    int
	Mean float64
	// Std is the sample standard deviation (n − 1 in the denominator); NaN
	// when N < 2.
	Std float64
	// Lo and Hi bound the 95% confidence interval of the mean from
	// Student's t with N − 1 degrees of freedom: Mean ∓ t·Std/√N. NaN when
	// N < 2.
	Lo, Hi float64
}

// summarize computes a seedStat of xs. An empty xs gives N = 0 and NaNs.
func summarize(xs []float64) seedStat {
	s := seedStat{N: len(xs), Mean: math.NaN(), Std: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if s.N == 0 {
		return s
	}
	s.Mean = stat.Mean(xs, nil)
	if s.N < 2 {
		return s
	}
	s.Std = stat.StdDev(xs, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(s.N - 1)}.Quantile(1 - (1-confidence)/2)
	half := t * s.Std / math.Sqrt(float64(s.N))
	s.Lo, s.Hi = s.Mean-half, s.Mean+half
	return s
}

// ErrorBar is the half-height of the error bar drawn for s: its standard
// deviation, or 0 where there is none.
func (s seedStat) ErrorBar() float64 {
	if math.IsNaN(s.Std) {
		return 0
	}
	return s.Std
}

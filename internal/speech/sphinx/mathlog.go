package sphinx

import "math"

func logOf(x float64) float64 { return math.Log(x) }

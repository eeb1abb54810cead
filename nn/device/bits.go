package device

import "math"

func f32bits(x float32) uint32 { return math.Float32bits(x) }

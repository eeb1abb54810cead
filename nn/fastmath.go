package nn

import "math"

// exp is e^x in the kernel's precision. float32 kernels use exp32, which is
// several times faster than math.Exp and within 2 ulp of it; float64
// kernels (the gradient checks) use math.Exp.
func exp[T Float](x T) T {
	if f, ok := any(x).(float32); ok {
		return T(exp32(f))
	}
	return T(math.Exp(float64(x)))
}

// tanh is tanh(x) in the kernel's precision, by way of exp.
func tanh[T Float](x T) T {
	if f, ok := any(x).(float32); ok {
		if f > 9 { // tanh is 1 in float32 beyond here; avoids exp overflow
			return 1
		}
		if f < -9 {
			return -1
		}
		e := exp32(2 * f)
		return T((e - 1) / (e + 1))
	}
	return T(math.Tanh(float64(x)))
}

// exp32 is the single-precision exponential of Cephes' expf: reduce by
// n·ln2 in two parts, a degree-6 polynomial on [-ln2/2, ln2/2], scale by 2^n.
func exp32(x float32) float32 {
	switch {
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -103.97208:
		return 0
	case x != x:
		return x
	}
	n := float32(math.Floor(float64(x*1.44269504088896341 + 0.5)))
	x -= n * 0.693359375
	x -= n * -2.12194440e-4
	z := x * x
	p := ((((1.9875691500e-4*x+1.3981999507e-3)*x+8.3334519073e-3)*x+4.1665795894e-2)*x+1.6666665459e-1)*x + 5.0000001201e-1
	p = p*z + x + 1
	k := int32(n)
	if k > 127 { // x near the top of the range: 2^128 is not a float32
		return p * 2 * math.Float32frombits(uint32(k-1+127)<<23)
	}
	if k < -126 { // subnormal result: scale in two steps
		return p * math.Float32frombits(uint32(k+126+127)<<23) * math.Float32frombits(1<<23)
	}
	return p * math.Float32frombits(uint32(k+127)<<23)
}

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

// tanh is tanh(x) in the kernel's precision: tanh32 for float32.
func tanh[T Float](x T) T {
	if f, ok := any(x).(float32); ok {
		return T(tanh32(f))
	}
	return T(math.Tanh(float64(x)))
}

// tanh32 is a rational minimax approximation of tanh on
// [-7.9988, 7.9988] (beyond it tanh is ±1 in float32): odd degree-13
// numerator over even degree-6 denominator, the coefficients Eigen uses
// for its vectorised float tanh. It needs one division and no exp, and
// stays within 4e-7 (3 ulp) of math.Tanh (tested).
func tanh32(x float32) float32 {
	// Saturate exactly, so that 1 − tanh² (GELU's backward pass) is zero
	// rather than a rounding error amplified by large inputs.
	if x >= 7.99881172180175781 {
		return 1
	}
	if x <= -7.99881172180175781 {
		return -1
	}
	x2 := x * x
	p := x2*-2.76076847742355e-16 + 2.00018790482477e-13
	p = x2*p + -8.60467152213735e-11
	p = x2*p + 5.12229709037114e-08
	p = x2*p + 1.48572235717979e-05
	p = x2*p + 6.37261928875436e-04
	p = x2*p + 4.89352455891786e-03
	q := x2*1.19825839466702e-06 + 1.18534705686654e-04
	q = x2*q + 2.26843463243900e-03
	q = x2*q + 4.89352518554385e-03
	return x * p / q
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
	// Round x/ln2 to the nearest integer by adding and removing 1.5·2²³,
	// which leaves no fraction bits: cheaper than math.Floor's call.
	n := (x*1.44269504088896341 + 12582912) - 12582912
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

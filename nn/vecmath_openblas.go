//go:build openblas

package nn

/*
#cgo CFLAGS: -O3 -ffast-math
#include <math.h>
#include <stdint.h>
#include <string.h>

// The float32 kernels whose cost is transcendental functions, written so
// that the compiler vectorises them (AVX2 + FMA where the CPU has them,
// chosen at load time through target_clones): exp by Cephes' expf
// polynomial with an integer build of 2^n, tanh by the rational
// approximation of tanh32 in fastmath.go. Go cannot vectorise these loops.

#define CLONES __attribute__((target_clones("avx2,fma", "default")))

static inline float vexp1(float x) {
	x = fminf(fmaxf(x, -87.3f), 88.7f);
	float n = rintf(x * 1.44269504088896341f);
	x -= n * 0.693359375f;
	x -= n * -2.12194440e-4f;
	float z = x * x;
	float p = ((((1.9875691500e-4f*x+1.3981999507e-3f)*x+8.3334519073e-3f)*x+4.1665795894e-2f)*x+1.6666665459e-1f)*x + 5.0000001201e-1f;
	p = p*z + x + 1.0f;
	int32_t k = ((int32_t)n + 127) << 23;
	float s;
	memcpy(&s, &k, 4);
	return p * s;
}

static inline float vtanh1(float x0) {
	float x = fminf(fmaxf(x0, -7.99881172180175781f), 7.99881172180175781f);
	float x2 = x * x;
	float p = x2*-2.76076847742355e-16f + 2.00018790482477e-13f;
	p = x2*p + -8.60467152213735e-11f;
	p = x2*p + 5.12229709037114e-08f;
	p = x2*p + 1.48572235717979e-05f;
	p = x2*p + 6.37261928875436e-04f;
	p = x2*p + 4.89352455891786e-03f;
	float q = x2*1.19825839466702e-06f + 1.18534705686654e-04f;
	q = x2*q + 2.26843463243900e-03f;
	q = x2*q + 4.89352518554385e-03f;
	return fabsf(x0) >= 7.99881172180175781f ? copysignf(1.0f, x0) : x * p / q;
}

CLONES void pb_gelu(const float *x, const float *g, float *y, long n) {
	const float c = 0.7978845608028654f, k = 0.044715f;
	if (!g) {
		for (long i = 0; i < n; i++) {
			float u = x[i];
			y[i] = 0.5f * u * (1.0f + vtanh1(c * (u + k*u*u*u)));
		}
		return;
	}
	for (long i = 0; i < n; i++) {
		float u = x[i], t = vtanh1(c * (u + k*u*u*u));
		y[i] = g[i] * (0.5f*(1.0f+t) + 0.5f*u*(1.0f-t*t)*c*(1.0f+3.0f*k*u*u));
	}
}

CLONES float pb_max(const float *x, long n) {
	float m = x[0];
	for (long i = 1; i < n; i++) m = fmaxf(m, x[i]);
	return m;
}

// y[i] = scale·exp(x[i] − shift) (y may be x; NULL to only sum); returns
// Σ exp(x[i] − shift).
CLONES double pb_exp(const float *x, float *y, long n, float shift, float scale) {
	float s = 0;
	if (!y) {
		for (long i = 0; i < n; i++) s += vexp1(x[i] - shift);
		return s;
	}
	for (long i = 0; i < n; i++) {
		float e = vexp1(x[i] - shift);
		s += e;
		y[i] = scale * e;
	}
	return s;
}
*/
import "C"

import "unsafe"

func ptr(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func geluF32(x, g, y []float32) { C.pb_gelu(ptr(x), ptr(g), ptr(y), C.long(len(x))) }

func maxF32(x []float32) float32 { return float32(C.pb_max(ptr(x), C.long(len(x)))) }

func expF32(x, y []float32, shift, scale float32) float64 {
	return float64(C.pb_exp(ptr(x), ptr(y), C.long(len(x)), C.float(shift), C.float(scale)))
}

//go:build openblas

package nn

/*
#cgo CFLAGS: -O3 -ffast-math
#include <math.h>
#include <stdint.h>
#include <string.h>

// The float32 kernels' inner loops, written so that the compiler
// vectorises them (AVX2 + FMA where the CPU has them, chosen at load time
// through target_clones); Go cannot vectorise loops. Each is the float32
// case of a generic Go kernel (named in vecmath.go, the pure-Go build) and
// computes the same formula; exp is Cephes' expf polynomial with an integer
// build of 2^n, tanh the rational approximation of tanh32 (fastmath.go).
// -ffast-math lets sums vectorise, so they add in another order than Go.

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

CLONES void pb_layernorm(const float *x, const float *gamma, const float *beta, float *y, float *stats, long rows, long d) {
	for (long r = 0; r < rows; r++) {
		const float *xr = x + r*d;
		float *yr = y + r*d;
		float s = 0, ss = 0;
		for (long j = 0; j < d; j++) s += xr[j];
		float mean = s / d;
		for (long j = 0; j < d; j++) ss += (xr[j]-mean) * (xr[j]-mean);
		float rstd = 1.0f / sqrtf(ss/d + 1e-5f);
		stats[2*r] = mean;
		stats[2*r+1] = rstd;
		for (long j = 0; j < d; j++) yr[j] = (xr[j]-mean)*rstd*gamma[j] + beta[j];
	}
}

CLONES void pb_layernorm_grad_x(const float *x, const float *gamma, const float *g, const float *stats, float *dx, long rows, long d) {
	for (long r = 0; r < rows; r++) {
		const float *xr = x + r*d, *gr = g + r*d;
		float *dr = dx + r*d;
		float mean = stats[2*r], rstd = stats[2*r+1], sdh = 0, sdhxh = 0;
		for (long j = 0; j < d; j++) {
			float dh = gr[j] * gamma[j];
			sdh += dh;
			sdhxh += dh * (xr[j]-mean) * rstd;
		}
		sdh /= d;
		sdhxh /= d;
		for (long j = 0; j < d; j++) dr[j] = rstd * (gr[j]*gamma[j] - sdh - (xr[j]-mean)*rstd*sdhxh);
	}
}

// Sums over rows for columns [lo, hi) only: workers split by columns.
CLONES void pb_layernorm_grad_gamma(const float *x, const float *g, const float *stats, float *dg, long rows, long d, long lo, long hi) {
	for (long j = lo; j < hi; j++) dg[j] = 0;
	for (long r = 0; r < rows; r++) {
		float mean = stats[2*r], rstd = stats[2*r+1];
		for (long j = lo; j < hi; j++) dg[j] += g[r*d+j] * (x[r*d+j]-mean) * rstd;
	}
}

CLONES void pb_colsum(const float *x, float *y, long rows, long d, long lo, long hi) {
	for (long j = lo; j < hi; j++) y[j] = 0;
	for (long r = 0; r < rows; r++)
		for (long j = lo; j < hi; j++) y[j] += x[r*d+j];
}

CLONES void pb_softmax_grad(const float *p, const float *g, float *ds, long n, float scale) {
	float dot = 0;
	for (long j = 0; j < n; j++) dot += p[j] * g[j];
	for (long j = 0; j < n; j++) ds[j] = p[j] * (g[j]-dot) * scale;
}

CLONES void pb_adam(float *w, const float *g, double *m, double *v, long n,
		double b1, double b2, double eps, double lr, double decay, double scale, double bc1, double bc2) {
	for (long j = 0; j < n; j++) {
		double gj = (double)g[j] * scale;
		m[j] = b1*m[j] + (1-b1)*gj;
		v[j] = b2*v[j] + (1-b2)*gj*gj;
		double x = w[j];
		x -= lr * decay * x;
		x -= lr * (m[j]/bc1) / (sqrt(v[j]/bc2) + eps);
		w[j] = (float)x;
	}
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

func layerNormF32(x, gamma, beta, y, stats []float32, d int) {
	C.pb_layernorm(ptr(x), ptr(gamma), ptr(beta), ptr(y), ptr(stats), C.long(len(x)/d), C.long(d))
}

func layerNormGradXF32(x, gamma, g, stats, dx []float32, d int) {
	C.pb_layernorm_grad_x(ptr(x), ptr(gamma), ptr(g), ptr(stats), ptr(dx), C.long(len(x)/d), C.long(d))
}

func layerNormGradGammaF32(x, g, stats, dg []float32, d, lo, hi int) {
	C.pb_layernorm_grad_gamma(ptr(x), ptr(g), ptr(stats), ptr(dg), C.long(len(x)/d), C.long(d), C.long(lo), C.long(hi))
}

func colSumF32(x, y []float32, d, lo, hi int) {
	C.pb_colsum(ptr(x), ptr(y), C.long(len(x)/d), C.long(d), C.long(lo), C.long(hi))
}

func softmaxGradF32(p, g, ds []float32, scale float32) {
	C.pb_softmax_grad(ptr(p), ptr(g), ptr(ds), C.long(len(p)), C.float(scale))
}

func adamF32(w, g []float32, m, v []float64, h *adamStep) {
	if len(w) == 0 {
		return
	}
	C.pb_adam(ptr(w), ptr(g), (*C.double)(unsafe.Pointer(&m[0])), (*C.double)(unsafe.Pointer(&v[0])), C.long(len(w)),
		C.double(h.b1), C.double(h.b2), C.double(h.eps), C.double(h.lr), C.double(h.decay), C.double(h.scale), C.double(h.bc1), C.double(h.bc2))
}

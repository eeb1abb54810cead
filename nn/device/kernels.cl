// The engine's device kernels, one source for OpenCL C and CUDA C++. The
// dialect prelude (prelude_opencl.h, prelude_cuda.h) defines the words
// that differ: KERNEL, DEVICE, GLOBAL, SHARED, LOCALPTR, LONG, the thread
// and group ids, BARRIER and the float functions. Every kernel runs in
// groups of LSIZE threads (a power of two, Local in Go, at most 256).
//
// A buffer argument is a pointer and an element offset (x, xo): OpenCL
// cannot offset a buffer handle, so every kernel adds the offsets itself.
//
// Reductions never use atomics: each sum runs over a fixed tree in one
// group's shared memory, or over a fixed order in one thread, so a launch
// gives the same bits every time.

#define ARG(T, x) GLOBAL T* x##_b, const LONG x##o
#define AT(x) (x##_b + x##o)

// The element of a 1-D launch: groups spread over two grid dimensions.
#define ELEM ((GROUP(1) * NGROUPS(0) + GROUP(0)) * (LONG)LSIZE + LID)
// The row of a launch with one group per row.
#define ROW (GROUP(1) * NGROUPS(0) + GROUP(0))

DEVICE float block_sum(LOCALPTR float* sh, float v) {
	const int l = LID;
	sh[l] = v;
	BARRIER();
	for (int s = LSIZE / 2; s > 0; s >>= 1) {
		if (l < s) sh[l] += sh[l + s];
		BARRIER();
	}
	const float r = sh[0];
	BARRIER();
	return r;
}

DEVICE float block_max(LOCALPTR float* sh, float v) {
	const int l = LID;
	sh[l] = v;
	BARRIER();
	for (int s = LSIZE / 2; s > 0; s >>= 1) {
		if (l < s) sh[l] = FMAX(sh[l], sh[l + s]);
		BARRIER();
	}
	const float r = sh[0];
	BARRIER();
	return r;
}

// ---- element-wise ----

KERNEL void fill(ARG(float, y), const LONG n, const float v) {
	const LONG i = ELEM;
	if (i < n) AT(y)[i] = v;
}

KERNEL void add(ARG(float, y), ARG(const float, a), ARG(const float, b), const LONG n) {
	const LONG i = ELEM;
	if (i < n) AT(y)[i] = AT(a)[i] + AT(b)[i];
}

KERNEL void scale(ARG(float, y), ARG(const float, x), const LONG n, const float c) {
	const LONG i = ELEM;
	if (i < n) AT(y)[i] = c * AT(x)[i];
}

// binary is a∘b, or a/b when div.
KERNEL void binary(ARG(float, y), ARG(const float, a), ARG(const float, b), const LONG n, const int div) {
	const LONG i = ELEM;
	if (i < n) AT(y)[i] = div ? AT(a)[i] / AT(b)[i] : AT(a)[i] * AT(b)[i];
}

// scale_columns: y[i] = x[i]·s[i mod d].
KERNEL void scale_columns(ARG(float, y), ARG(const float, x), ARG(const float, s), const LONG n, const LONG d) {
	const LONG i = ELEM;
	if (i < n) AT(y)[i] = AT(x)[i] * AT(s)[i % d];
}

KERNEL void tanh_fwd(ARG(float, y), ARG(const float, x), const LONG n) {
	const LONG i = ELEM;
	if (i < n) AT(y)[i] = TANH(AT(x)[i]);
}

// tanh_bwd: g·(1 − y²) from the forward output y.
KERNEL void tanh_bwd(ARG(float, dx), ARG(const float, y), ARG(const float, g), const LONG n) {
	const LONG i = ELEM;
	if (i < n) {
		const float v = AT(y)[i];
		AT(dx)[i] = AT(g)[i] * (1.0f - v * v);
	}
}

// relu_fwd: max(0, x); relu_bwd: g where the forward output y > 0, else 0.
KERNEL void relu_fwd(ARG(float, y), ARG(const float, x), const LONG n) {
	const LONG i = ELEM;
	if (i < n) {
		const float v = AT(x)[i];
		AT(y)[i] = v > 0.0f ? v : 0.0f;
	}
}

KERNEL void relu_bwd(ARG(float, dx), ARG(const float, y), ARG(const float, g), const LONG n) {
	const LONG i = ELEM;
	if (i < n) AT(dx)[i] = AT(y)[i] > 0.0f ? AT(g)[i] : 0.0f;
}

// GPT-2's tanh-approximated GELU.
#define GELU_C 0.7978845608028654f
#define GELU_K 0.044715f

KERNEL void gelu_fwd(ARG(float, y), ARG(const float, x), const LONG n) {
	const LONG i = ELEM;
	if (i < n) {
		const float u = AT(x)[i];
		AT(y)[i] = 0.5f * u * (1.0f + TANH(GELU_C * (u + GELU_K * u * u * u)));
	}
}

KERNEL void gelu_bwd(ARG(float, dx), ARG(const float, x), ARG(const float, g), const LONG n) {
	const LONG i = ELEM;
	if (i < n) {
		const float u = AT(x)[i];
		const float t = TANH(GELU_C * (u + GELU_K * u * u * u));
		AT(dx)[i] = AT(g)[i] * (0.5f * (1.0f + t) + 0.5f * u * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_K * u * u));
	}
}

// SiLU, σ(x) = 1/(1+e^−x): finite for every x (see nn/silu.go).
KERNEL void silu_fwd(ARG(float, y), ARG(const float, x), const LONG n) {
	const LONG i = ELEM;
	if (i < n) {
		const float u = AT(x)[i];
		AT(y)[i] = u / (1.0f + EXP(-u));
	}
}

KERNEL void silu_bwd(ARG(float, dx), ARG(const float, x), ARG(const float, g), const LONG n) {
	const LONG i = ELEM;
	if (i < n) {
		const float u = AT(x)[i];
		const float s = 1.0f / (1.0f + EXP(-u));
		AT(dx)[i] = AT(g)[i] * s * (1.0f + u * (1.0f - s));
	}
}

// dropout: x·k where the mask keeps the element, else 0 (the mask is drawn
// on the host from the op's seeded generator, as the CPU engine draws it).
KERNEL void dropout(ARG(float, y), ARG(const float, x), ARG(const int, keep), const LONG n, const float k) {
	const LONG i = ELEM;
	if (i < n) AT(y)[i] = AT(keep)[i] ? AT(x)[i] * k : 0.0f;
}

// bias_rows: every row of y [n, m] set to b [m] (a linear layer's bias
// before its product adds in).
KERNEL void bias_rows(ARG(float, y), ARG(const float, b), const LONG n, const LONG m) {
	const LONG i = ELEM;
	if (i < n * m) AT(y)[i] = AT(b)[i % m];
}

// col_sum: y[j] = Σ_r x[r, j], rows in order, one thread per column.
KERNEL void col_sum(ARG(float, y), ARG(const float, x), const LONG rows, const LONG d) {
	const LONG j = ELEM;
	if (j >= d) return;
	GLOBAL const float* p = AT(x) + j;
	float s = 0.0f;
	for (LONG r = 0; r < rows; r++) s += p[r * d];
	AT(y)[j] = s;
}

// col_norm: y[j] = ‖w[:, j]‖₂.
KERNEL void col_norm(ARG(float, y), ARG(const float, w), const LONG rows, const LONG d) {
	const LONG j = ELEM;
	if (j >= d) return;
	GLOBAL const float* p = AT(w) + j;
	float s = 0.0f;
	for (LONG r = 0; r < rows; r++) s += p[r * d] * p[r * d];
	AT(y)[j] = SQRT(s);
}

// ---- normalisation (one group per row of d columns) ----

// layernorm_fwd keeps each row's mean and reciprocal standard deviation in
// stats [2·rows] for the backward kernels.
KERNEL void layernorm_fwd(ARG(float, y), ARG(float, stats), ARG(const float, x), ARG(const float, gamma), ARG(const float, beta), const LONG d, const float eps) {
	SHARED float sh[256];
	const LONG r = ROW;
	GLOBAL const float* xr = AT(x) + r * d;
	GLOBAL float* yr = AT(y) + r * d;
	float s = 0.0f;
	for (LONG j = LID; j < d; j += LSIZE) s += xr[j];
	const float mean = block_sum(sh, s) / (float)d;
	float ss = 0.0f;
	for (LONG j = LID; j < d; j += LSIZE) {
		const float c = xr[j] - mean;
		ss += c * c;
	}
	const float rstd = 1.0f / SQRT(block_sum(sh, ss) / (float)d + eps);
	for (LONG j = LID; j < d; j += LSIZE) yr[j] = (xr[j] - mean) * rstd * AT(gamma)[j] + AT(beta)[j];
	if (LID == 0) {
		AT(stats)[2 * r] = mean;
		AT(stats)[2 * r + 1] = rstd;
	}
}

// layernorm_bwd_x: dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = g·gamma.
KERNEL void layernorm_bwd_x(ARG(float, dx), ARG(const float, x), ARG(const float, gamma), ARG(const float, g), ARG(const float, stats), const LONG d) {
	SHARED float sh[256];
	const LONG r = ROW;
	GLOBAL const float* xr = AT(x) + r * d;
	GLOBAL const float* gr = AT(g) + r * d;
	GLOBAL float* dr = AT(dx) + r * d;
	const float mean = AT(stats)[2 * r], rstd = AT(stats)[2 * r + 1];
	float a = 0.0f, b = 0.0f;
	for (LONG j = LID; j < d; j += LSIZE) {
		const float dh = gr[j] * AT(gamma)[j];
		a += dh;
		b += dh * (xr[j] - mean) * rstd;
	}
	const float sumDh = block_sum(sh, a) / (float)d;
	const float sumDhXh = block_sum(sh, b) / (float)d;
	for (LONG j = LID; j < d; j += LSIZE) {
		const float xh = (xr[j] - mean) * rstd;
		dr[j] = rstd * (gr[j] * AT(gamma)[j] - sumDh - xh * sumDhXh);
	}
}

// layernorm_bwd_gamma: dgamma[j] = Σ_r g·x̂, one thread per column.
KERNEL void layernorm_bwd_gamma(ARG(float, dg), ARG(const float, x), ARG(const float, g), ARG(const float, stats), const LONG rows, const LONG d) {
	const LONG j = ELEM;
	if (j >= d) return;
	float s = 0.0f;
	for (LONG r = 0; r < rows; r++) s += AT(g)[r * d + j] * (AT(x)[r * d + j] - AT(stats)[2 * r]) * AT(stats)[2 * r + 1];
	AT(dg)[j] = s;
}

// rmsnorm_fwd keeps each row's reciprocal root mean square in rstd [rows].
KERNEL void rmsnorm_fwd(ARG(float, y), ARG(float, rstd), ARG(const float, x), ARG(const float, gamma), const LONG d, const float eps) {
	SHARED float sh[256];
	const LONG r = ROW;
	GLOBAL const float* xr = AT(x) + r * d;
	GLOBAL float* yr = AT(y) + r * d;
	float ss = 0.0f;
	for (LONG j = LID; j < d; j += LSIZE) ss += xr[j] * xr[j];
	const float rs = 1.0f / SQRT(block_sum(sh, ss) / (float)d + eps);
	for (LONG j = LID; j < d; j += LSIZE) yr[j] = xr[j] * rs * AT(gamma)[j];
	if (LID == 0) AT(rstd)[r] = rs;
}

// rmsnorm_bwd_x: dx = rstd·(dx̂ − x·rstd²·mean(dx̂·x)), dx̂ = g·gamma.
KERNEL void rmsnorm_bwd_x(ARG(float, dx), ARG(const float, x), ARG(const float, gamma), ARG(const float, g), ARG(const float, rstd), const LONG d) {
	SHARED float sh[256];
	const LONG r = ROW;
	GLOBAL const float* xr = AT(x) + r * d;
	GLOBAL const float* gr = AT(g) + r * d;
	GLOBAL float* dr = AT(dx) + r * d;
	const float rs = AT(rstd)[r];
	float a = 0.0f;
	for (LONG j = LID; j < d; j += LSIZE) a += gr[j] * AT(gamma)[j] * xr[j];
	const float c = block_sum(sh, a) / (float)d * rs * rs;
	for (LONG j = LID; j < d; j += LSIZE) dr[j] = rs * (gr[j] * AT(gamma)[j] - xr[j] * c);
}

KERNEL void rmsnorm_bwd_gamma(ARG(float, dg), ARG(const float, x), ARG(const float, g), ARG(const float, rstd), const LONG rows, const LONG d) {
	const LONG j = ELEM;
	if (j >= d) return;
	float s = 0.0f;
	for (LONG r = 0; r < rows; r++) s += AT(g)[r * d + j] * AT(x)[r * d + j] * AT(rstd)[r];
	AT(dg)[j] = s;
}

// rope rotates column j of each head with column j + dh/2 by the angle of
// the row's position start + r mod seq (HF's rotate_half); inv rotates
// back (the backward pass). One thread per pair.
KERNEL void rope(ARG(float, y), ARG(const float, x), ARG(const float, cosv), ARG(const float, sinv), const LONG rows, const LONG d, const LONG dh, const LONG seq, const LONG start, const int inv) {
	const LONG i = ELEM;
	const LONG pairs = d / 2, hd2 = dh / 2;
	if (i >= rows * pairs) return;
	const LONG r = i / pairs, rem = i % pairs;
	const LONG col = (rem / hd2) * dh + rem % hd2;
	const LONG p = start + r % seq;
	const float c = AT(cosv)[p * hd2 + rem % hd2], s = AT(sinv)[p * hd2 + rem % hd2];
	const float x1 = AT(x)[r * d + col], x2 = AT(x)[r * d + col + hd2];
	if (inv) {
		AT(y)[r * d + col] = x1 * c + x2 * s;
		AT(y)[r * d + col + hd2] = x2 * c - x1 * s;
	} else {
		AT(y)[r * d + col] = x1 * c - x2 * s;
		AT(y)[r * d + col + hd2] = x2 * c + x1 * s;
	}
}

// ---- embeddings ----

// embedding: y[r, j] = table[ids[r], j] (ids checked on the host).
KERNEL void embedding(ARG(float, y), ARG(const int, ids), ARG(const float, table), const LONG n, const LONG d) {
	const LONG i = ELEM;
	if (i < n * d) AT(y)[i] = AT(table)[(LONG)AT(ids)[i / d] * d + i % d];
}

// embedding_grad: dt[uniq[u], j] = Σ g[perm[k], j] over k in
// [starts[u], starts[u+1]): the positions of each distinct id, in order
// (sorted on the host), so repeated ids sum without atomics and in the CPU
// engine's order. dt is cleared first.
KERNEL void embedding_grad(ARG(float, dt), ARG(const int, perm), ARG(const int, starts), ARG(const int, uniq), ARG(const float, g), const LONG nuniq, const LONG d) {
	const LONG i = ELEM;
	if (i >= nuniq * d) return;
	const LONG u = i / d, j = i % d;
	float s = 0.0f;
	for (int k = AT(starts)[u]; k < AT(starts)[u + 1]; k++) s += AT(g)[(LONG)AT(perm)[k] * d + j];
	AT(dt)[(LONG)AT(uniq)[u] * d + j] = s;
}

// ---- rows of logits (one group per row of v columns) ----

// ce_rows: w·(log Σ exp(x − max) − (x[t] − max)) per row, 0 where w is 0.
KERNEL void ce_rows(ARG(float, rowloss), ARG(const float, logits), ARG(const int, targets), ARG(const float, mask), const LONG v) {
	SHARED float sh[256];
	const LONG r = ROW;
	const float w = AT(mask)[r];
	// No early return: every thread of a group reaches every barrier (pocl
	// hangs otherwise, even where the branch is uniform).
	GLOBAL const float* xr = AT(logits) + r * v;
	float m = -INFINITY_F;
	for (LONG j = LID; j < v; j += LSIZE) m = FMAX(m, xr[j]);
	const float mx = block_max(sh, m);
	float s = 0.0f;
	for (LONG j = LID; j < v; j += LSIZE) s += EXP(xr[j] - mx);
	const float lse = LOG(block_sum(sh, s));
	if (LID == 0) AT(rowloss)[r] = w == 0.0f ? 0.0f : w * (lse - (xr[AT(targets)[r]] - mx));
}

// ce_loss: out[0] = Σ rowloss / Σ mask, out[1] = Σ mask; one group.
KERNEL void ce_loss(ARG(float, out), ARG(const float, rowloss), ARG(const float, mask), const LONG n) {
	SHARED float sh[256];
	float a = 0.0f, b = 0.0f;
	for (LONG i = LID; i < n; i += LSIZE) {
		a += AT(rowloss)[i];
		b += AT(mask)[i];
	}
	const float loss = block_sum(sh, a), total = block_sum(sh, b);
	if (LID == 0) {
		AT(out)[0] = loss / total;
		AT(out)[1] = total;
	}
}

// reduce_sum: out[0] = Σ x; one group.
KERNEL void reduce_sum(ARG(float, out), ARG(const float, x), const LONG n) {
	SHARED float sh[256];
	float a = 0.0f;
	for (LONG i = LID; i < n; i += LSIZE) a += AT(x)[i];
	const float s = block_sum(sh, a);
	if (LID == 0) AT(out)[0] = s;
}

// sumsq_partial: out[g] = Σ x² over the elements group g visits (g, g +
// groups, ...), groups fixed by the launch: the first pass of a gradient
// norm, reduce_sum the second.
KERNEL void sumsq_partial(ARG(float, out), ARG(const float, x), const LONG n) {
	SHARED float sh[256];
	const LONG groups = NGROUPS(0);
	float a = 0.0f;
	for (LONG i = GROUP(0) * LSIZE + LID; i < n; i += groups * LSIZE) a += AT(x)[i] * AT(x)[i];
	const float s = block_sum(sh, a);
	if (LID == 0) AT(out)[GROUP(0)] = s;
}

// ce_grad: (softmax(x) − onehot(t))·mask·g/total per row; g and total are
// device scalars (the upstream gradient, Σ mask).
KERNEL void ce_grad(ARG(float, dl), ARG(const float, logits), ARG(const int, targets), ARG(const float, mask), ARG(const float, gs), ARG(const float, total), const LONG v) {
	SHARED float sh[256];
	const LONG r = ROW;
	GLOBAL const float* xr = AT(logits) + r * v;
	GLOBAL float* dr = AT(dl) + r * v;
	const float mw = AT(mask)[r];
	const float w = AT(gs)[0] / AT(total)[0] * mw;
	float m = -INFINITY_F;
	for (LONG j = LID; j < v; j += LSIZE) m = FMAX(m, xr[j]);
	const float mx = block_max(sh, m);
	float s = 0.0f;
	for (LONG j = LID; j < v; j += LSIZE) s += EXP(xr[j] - mx);
	const float shift = mx + LOG(block_sum(sh, s));
	const int t = AT(targets)[r];
	for (LONG j = LID; j < v; j += LSIZE) {
		float e = w * EXP(xr[j] - shift);
		if (j == t) e -= w;
		dr[j] = mw == 0.0f ? 0.0f : e;
	}
}

// token_logprob: log softmax(x)[t] per row, 0 for targets outside [0, v).
KERNEL void token_logprob(ARG(float, lp), ARG(const float, logits), ARG(const int, targets), const LONG v) {
	SHARED float sh[256];
	const LONG r = ROW;
	const int t = AT(targets)[r];
	GLOBAL const float* xr = AT(logits) + r * v;
	float m = -INFINITY_F;
	for (LONG j = LID; j < v; j += LSIZE) m = FMAX(m, xr[j]);
	const float mx = block_max(sh, m);
	float s = 0.0f;
	for (LONG j = LID; j < v; j += LSIZE) s += EXP(xr[j] - mx);
	const float lse = LOG(block_sum(sh, s));
	if (LID == 0) AT(lp)[r] = t < 0 || t >= v ? 0.0f : (xr[t] - mx) - lse;
}

// ---- attention (rows of S keys; row r is query t = r mod T) ----

// attn_softmax turns the scaled scores of each row into probabilities over
// its visible keys, in place, and zeroes the rest: query t sees keys
// [lo, n) with n = S − T + t + 1, and lo = n − W with a sliding window of
// W keys (W > 0), else 0.
KERNEL void attn_softmax(ARG(float, p), const LONG S, const LONG T, const LONG W) {
	SHARED float sh[256];
	const LONG r = ROW;
	const LONG n = S - T + r % T + 1;
	const LONG lo = W > 0 && n > W ? n - W : 0;
	GLOBAL float* pr = AT(p) + r * S;
	float m = -INFINITY_F;
	for (LONG j = lo + LID; j < n; j += LSIZE) m = FMAX(m, pr[j]);
	const float mx = block_max(sh, m);
	float s = 0.0f;
	for (LONG j = lo + LID; j < n; j += LSIZE) {
		const float e = EXP(pr[j] - mx);
		pr[j] = e;
		s += e;
	}
	const float inv = 1.0f / block_sum(sh, s);
	for (LONG j = LID; j < S; j += LSIZE) pr[j] = j >= lo && j < n ? pr[j] * inv : 0.0f;
}

// attn_softmax_grad: ds = p∘(g − Σ p·g)·scale over the visible keys
// (attn_softmax's [lo, n)).
KERNEL void attn_softmax_grad(ARG(float, ds), ARG(const float, p), ARG(const float, g), const LONG S, const LONG T, const LONG W, const float scale) {
	SHARED float sh[256];
	const LONG r = ROW;
	const LONG n = S - T + r % T + 1;
	const LONG lo = W > 0 && n > W ? n - W : 0;
	GLOBAL const float* pr = AT(p) + r * S;
	GLOBAL const float* gr = AT(g) + r * S;
	GLOBAL float* dr = AT(ds) + r * S;
	float a = 0.0f;
	for (LONG j = lo + LID; j < n; j += LSIZE) a += pr[j] * gr[j];
	const float dot = block_sum(sh, a);
	for (LONG j = LID; j < S; j += LSIZE) dr[j] = j >= lo && j < n ? pr[j] * (gr[j] - dot) * scale : 0.0f;
}

// ---- rows ----

// prepend_rows: y = [p; x_b] for each of B sequences of Tn rows; P rows
// of p; d columns; total = B·(P+Tn)·d.
KERNEL void prepend_rows(ARG(float, y), ARG(const float, p), ARG(const float, x), const LONG P, const LONG Tn, const LONG d, const LONG total) {
	const LONG i = ELEM;
	if (i >= total) return;
	const LONG r = i / d, j = i % d, b = r / (P + Tn), rr = r % (P + Tn);
	AT(y)[i] = rr < P ? AT(p)[rr * d + j] : AT(x)[(b * Tn + rr - P) * d + j];
}

// split_rows: the rows after the first P of each sequence of n rows.
KERNEL void split_rows(ARG(float, y), ARG(const float, x), const LONG P, const LONG n, const LONG d, const LONG total) {
	const LONG i = ELEM;
	if (i >= total) return;
	const LONG r = i / d, j = i % d, t = n - P, b = r / t, rr = r % t;
	AT(y)[i] = AT(x)[(b * n + P + rr) * d + j];
}

// split_rows_sum: y[i] = Σ_b x[b·n·d + i] for the first P rows (P·d
// elements): the gradient of a prefix every sequence shares.
KERNEL void split_rows_sum(ARG(float, y), ARG(const float, x), const LONG B, const LONG n, const LONG pd, const LONG d) {
	const LONG i = ELEM;
	if (i >= pd) return;
	float s = 0.0f;
	for (LONG b = 0; b < B; b++) s += AT(x)[b * n * d + i];
	AT(y)[i] = s;
}

// ---- optimiser ----

// adamw: one AdamW update (decoupled decay) of n weights from their
// gradients times scale (clipping), moments m and v kept on the device.
KERNEL void adamw(ARG(float, w), ARG(const float, g), ARG(float, m), ARG(float, v), const LONG n,
		const float b1, const float b2, const float eps, const float lr, const float decay, const float scale, const float bc1, const float bc2) {
	const LONG i = ELEM;
	if (i >= n) return;
	const float gi = AT(g)[i] * scale;
	const float mi = b1 * AT(m)[i] + (1.0f - b1) * gi;
	const float vi = b2 * AT(v)[i] + (1.0f - b2) * gi * gi;
	AT(m)[i] = mi;
	AT(v)[i] = vi;
	float x = AT(w)[i];
	x -= lr * decay * x;
	x -= lr * (mi / bc1) / (SQRT(vi / bc2) + eps);
	AT(w)[i] = x;
}

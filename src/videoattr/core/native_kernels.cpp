// videoattr: native loops of the perturbation methods.
//
// 1. The mask generator's soft-max pooling (videoattr_pool_*).
//
// Built on first use by videoattr.core.native (a C++17 compiler is all it needs) and called
// through ctypes on contiguous CPU tensors. For every cell (n, i, j) of the padded canvas and every
// sub-pixel ab = (a, b) of the cell, with the cell's (2R + 1)^2 neighbouring parameters p_k:
//
//     cv_k = p_k * cw_k(ab)          (cw = coldness * bump weight)
//     out  = sum_k cv_k e_k / (coldness * sum_k e_k),    e_k = exp(cv_k - m),
//
// m = max_k cv_k when coldness * |p| * w could overflow exp, else 0. The backward pass recomputes e_k
// from the saved sum and shift, so nothing of the size (pixels x neighbours) is ever stored.
// Every cell is computed by the same instructions whatever the number of frames or the thread that
// runs it, so a frame's mask does not depend on how frames are batched.
//
// 2. The perturbation's pyramid blend (videoattr_blend_*): a mask value m picks level q = m (L - 1) of
// its clip's pyramid (B, C, P, L) and blends levels k = clamp(floor(q), 0, L - 1) and min(k + 1, L - 1)
// with weight q - k; the backward pass sums (L - 1) g (y_hi - y_lo) over the channels.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// Largest exponent taken without the per-pixel shift (exp(80) is well inside float32's range).
constexpr double kSafeExponent = 80.0;
constexpr int kLanes = 8;

inline float exp_bounded(float x) {
    // e^x for |x| <= 87 (the kernel's exponents lie in [-87, 80]): Cody-Waite reduction by ln 2 to
    // |r| <= ln(2) / 2 and a degree-6 polynomial (Cephes' expf coefficients), branch-free so that the
    // compiler vectorises the loops that call it. NaN stays NaN.
    const float xc = x >= -87.0f ? (x <= 87.0f ? x : 87.0f) : -87.0f;  // NaN -> -87, restored below
    // round to nearest: adding and subtracting 1.5 * 2^23 rounds (compiled without -ffast-math)
    const float fn = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const int32_t n = static_cast<int32_t>(fn);
    float r = xc - fn * 0.693359375f;
    r = r + fn * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float y = p * r * r + r + 1.0f;
    const uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return x == x ? y * scale : x;
}

inline double exp_bounded(double x) { return std::exp(x); }

struct Geometry {
    int64_t hp, wp;  // padded parameter grid
    int64_t mh, mw;  // cells per canvas side
    int64_t size;    // neighbourhood side 2R + 1
    int64_t step;    // sub-pixels per cell side
    int64_t ssp;     // step * step rounded up to a multiple of kLanes (weights padded with 0)
};

template <typename T>
T largest(const T* values, int64_t count) {
    T best = 0;
    for (int64_t i = 0; i < count; ++i) {
        const T v = values[i] < 0 ? -values[i] : values[i];
        best = v > best ? v : best;
    }
    return best;
}

template <typename T>
void gather(const T* grid, const Geometry& g, int64_t i, int64_t j, T* nb) {
    for (int64_t ky = 0; ky < g.size; ++ky)
        for (int64_t kx = 0; kx < g.size; ++kx) nb[ky * g.size + kx] = grid[(i + ky) * g.wp + j + kx];
}

template <typename T>
void shifts(const T* nb, const T* cw, const Geometry& g, T cw_max, T* m) {
    const int64_t kk = g.size * g.size;
    if (largest(nb, kk) * cw_max <= static_cast<T>(kSafeExponent)) {
        for (int64_t ab = 0; ab < g.ssp; ++ab) m[ab] = 0;
        return;
    }
    for (int64_t ab = 0; ab < g.ssp; ++ab) m[ab] = nb[0] * cw[ab];
    for (int64_t k = 1; k < kk; ++k) {
        const T v = nb[k];
        const T* row = cw + k * g.ssp;
        for (int64_t ab = 0; ab < g.ssp; ++ab) {
            const T cv = v * row[ab];
            m[ab] = cv > m[ab] ? cv : m[ab];
        }
    }
}

// Runs body(u) for the units of work u0 <= u < u1 (frames, blocks of pixels), on `threads` OpenMP
// threads where the library was built with OpenMP (it then shares PyTorch's OpenMP runtime and its
// threads), else in the calling thread.
template <typename Body>
void parallel_for(int64_t u0, int64_t u1, int threads, const Body& body) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t u = u0; u < u1; ++u) body(u);
#else
    (void)threads;
    for (int64_t u = u0; u < u1; ++u) body(u);
#endif
}

template <typename T>
void forward(const T* params, const T* cw, T* canvas, T* total, T* shift, int64_t n0, int64_t n1,
             int threads, const Geometry& g, T coldness) {
    const int64_t kk = g.size * g.size, ss = g.step * g.step, row = g.mw * g.step;
    const T cw_max = largest(cw, kk * g.ssp);
    parallel_for(n0, n1, threads, [&](int64_t n) {
        std::vector<T> nb(kk), m(g.ssp), z(g.ssp), acc(g.ssp);
        const T* grid = params + n * g.hp * g.wp;
        T* out = canvas + n * g.mh * g.step * row;
        for (int64_t i = 0; i < g.mh; ++i) {
            for (int64_t j = 0; j < g.mw; ++j) {
                gather(grid, g, i, j, nb.data());
                shifts(nb.data(), cw, g, cw_max, m.data());
                for (int64_t ab = 0; ab < g.ssp; ++ab) z[ab] = acc[ab] = 0;
                for (int64_t k = 0; k < kk; ++k) {
                    const T v = nb[k];
                    const T* crow = cw + k * g.ssp;
                    for (int64_t ab = 0; ab < g.ssp; ++ab) {
                        const T cv = v * crow[ab];
                        const T e = exp_bounded(cv - m[ab]);
                        z[ab] += e;
                        acc[ab] += cv * e;
                    }
                }
                for (int64_t ab = 0; ab < ss; ++ab) {
                    const int64_t a = ab / g.step, b = ab % g.step;
                    out[(i * g.step + a) * row + j * g.step + b] = acc[ab] / z[ab] / coldness;
                }
                const int64_t cell = ((n * g.mh + i) * g.mw + j) * g.ssp;
                std::memcpy(total + cell, z.data(), g.ssp * sizeof(T));
                std::memcpy(shift + cell, m.data(), g.ssp * sizeof(T));
            }
        }
    });
}

template <typename T>
void backward(const T* params, const T* cw, const T* w, const T* canvas, const T* total,
              const T* shift, const T* grad, T* grad_params, int64_t n0, int64_t n1, int threads,
              const Geometry& g, T coldness) {
    const int64_t kk = g.size * g.size, ss = g.step * g.step, row = g.mw * g.step;
    parallel_for(n0, n1, threads, [&](int64_t n) {
        std::vector<T> nb(kk), q(g.ssp), base(g.ssp), t(g.ssp);
        const T* grid = params + n * g.hp * g.wp;
        T* grad_grid = grad_params + n * g.hp * g.wp;
        const T* grad_out = grad + n * g.mh * g.step * row;
        const T* out = canvas + n * g.mh * g.step * row;
        for (int64_t i = 0; i < g.mh; ++i) {
            for (int64_t j = 0; j < g.mw; ++j) {
                gather(grid, g, i, j, nb.data());
                const int64_t cell = ((n * g.mh + i) * g.mw + j) * g.ssp;
                for (int64_t ab = 0; ab < g.ssp; ++ab) q[ab] = base[ab] = 0;
                for (int64_t ab = 0; ab < ss; ++ab) {
                    const int64_t at = (i * g.step + ab / g.step) * row + j * g.step + ab % g.step;
                    q[ab] = grad_out[at] / total[cell + ab];
                    base[ab] = q[ab] * (1 - coldness * out[at]);
                }
                const T* m = shift + cell;
                // d out / d p_k = sum_ab w_k e_k / Z (1 + cv_k - coldness out)
                for (int64_t k = 0; k < kk; ++k) {
                    const T v = nb[k];
                    const T* crow = cw + k * g.ssp;
                    const T* wrow = w + k * g.ssp;
                    for (int64_t ab = 0; ab < g.ssp; ++ab) {
                        const T cv = v * crow[ab];
                        t[ab] = wrow[ab] * exp_bounded(cv - m[ab]) * (base[ab] + cv * q[ab]);
                    }
                    T part[kLanes] = {};
                    for (int64_t at = 0; at < g.ssp; at += kLanes)
                        for (int l = 0; l < kLanes; ++l) part[l] += t[at + l];
                    const T sum = ((part[0] + part[1]) + (part[2] + part[3])) +
                                  ((part[4] + part[5]) + (part[6] + part[7]));
                    grad_grid[(i + k / g.size) * g.wp + j + k % g.size] += sum;
                }
            }
        }
    });
}


constexpr int64_t kBlendBlock = 1024;  // pixels per unit of work

struct Blend {
    int64_t channels, pixels, levels;
    int64_t blocks() const { return (pixels + kBlendBlock - 1) / kBlendBlock; }
};

// Unit u of a blend: row n and pixels [p0, p1).
struct BlendUnit {
    int64_t n, p0, p1;
    BlendUnit(int64_t u, const Blend& b)
        : n(u / b.blocks()),
          p0((u % b.blocks()) * kBlendBlock),
          p1(p0 + kBlendBlock < b.pixels ? p0 + kBlendBlock : b.pixels) {}
};

template <typename T>
inline int64_t blend_level(T q, int64_t levels) {
    // clamp(floor(q), 0, L - 1); NaN picks level 0 (its weight q - 0 stays NaN)
    const T f = std::floor(q);
    if (!(f >= 0)) return 0;
    return f > static_cast<T>(levels - 1) ? levels - 1 : static_cast<int64_t>(f);
}

// Units u = n * blocks + block over the rows n of the mask (N, P); out is (N, C, P).
template <typename T>
void blend_forward(const T* pyramid, const T* mask, const int64_t* clip, T* out, int64_t u0,
                   int64_t u1, int threads, const Blend& b) {
    const T top = static_cast<T>(b.levels - 1);
    parallel_for(u0, u1, threads, [&](int64_t u) {
        const BlendUnit unit(u, b);
        const int64_t n = unit.n, p0 = unit.p0, p1 = unit.p1;
        const T* m = mask + n * b.pixels;
        for (int64_t c = 0; c < b.channels; ++c) {
            const T* levels = pyramid + (clip[n] * b.channels + c) * b.pixels * b.levels;
            T* y = out + (n * b.channels + c) * b.pixels;
            for (int64_t p = p0; p < p1; ++p) {
                const T q = m[p] * top;
                const int64_t k = blend_level(q, b.levels);
                const T frac = q - static_cast<T>(k);
                const T* at = levels + p * b.levels + k;
                const T hi = k < b.levels - 1 ? at[1] : at[0];
                y[p] = (1 - frac) * at[0] + frac * hi;
            }
        }
    });
}

template <typename T>
void blend_backward(const T* pyramid, const T* mask, const int64_t* clip, const T* grad,
                    T* grad_mask, int64_t u0, int64_t u1, int threads, const Blend& b) {
    const T top = static_cast<T>(b.levels - 1);
    parallel_for(u0, u1, threads, [&](int64_t u) {
        const BlendUnit unit(u, b);
        const int64_t n = unit.n, p0 = unit.p0, p1 = unit.p1;
        const T* m = mask + n * b.pixels;
        T* gm = grad_mask + n * b.pixels;
        for (int64_t p = p0; p < p1; ++p) gm[p] = 0;
        for (int64_t c = 0; c < b.channels; ++c) {
            const T* levels = pyramid + (clip[n] * b.channels + c) * b.pixels * b.levels;
            const T* g = grad + (n * b.channels + c) * b.pixels;
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t k = blend_level(m[p] * top, b.levels);
                const T* at = levels + p * b.levels + k;
                const T hi = k < b.levels - 1 ? at[1] : at[0];
                gm[p] += g[p] * (hi - at[0]);
            }
        }
        for (int64_t p = p0; p < p1; ++p) gm[p] *= top;
    });
}

Geometry geometry(const int64_t* shape) {
    return Geometry{shape[0], shape[1], shape[2], shape[3], shape[4], shape[5], shape[6]};
}

}  // namespace

extern "C" {

// Version of the calling convention below; the loader refuses a library that reports another.
int32_t videoattr_pool_abi() { return 3; }

// Whether the library was built with OpenMP (it then parallelises over frames itself).
int32_t videoattr_pool_openmp() {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

// shape = {hp, wp, mh, mw, size, step, ssp}; frames [n0, n1) of the batch on `threads` threads.
#define VIDEOATTR_POOL_ENTRIES(T, SUFFIX)                                                          \
    void videoattr_pool_forward_##SUFFIX(const T* params, const T* cw, T* canvas, T* total,       \
                                         T* shift, int64_t n0, int64_t n1, int32_t threads,       \
                                         const int64_t* shape, T coldness) {                      \
        forward<T>(params, cw, canvas, total, shift, n0, n1, threads, geometry(shape), coldness); \
    }                                                                                             \
    void videoattr_pool_backward_##SUFFIX(const T* params, const T* cw, const T* w,               \
                                          const T* canvas, const T* total, const T* shift,        \
                                          const T* grad, T* grad_params, int64_t n0, int64_t n1,  \
                                          int32_t threads, const int64_t* shape, T coldness) {    \
        backward<T>(params, cw, w, canvas, total, shift, grad, grad_params, n0, n1, threads,      \
                    geometry(shape), coldness);                                                   \
    }

VIDEOATTR_POOL_ENTRIES(float, f32)
VIDEOATTR_POOL_ENTRIES(double, f64)

// shape = {channels, pixels, levels}; units [u0, u1) of rows x blocks of 1024 pixels.
#define VIDEOATTR_BLEND_ENTRIES(T, SUFFIX)                                                          \
    void videoattr_blend_forward_##SUFFIX(const T* pyramid, const T* mask, const int64_t* clip,    \
                                          T* out, int64_t u0, int64_t u1, int32_t threads,        \
                                          const int64_t* shape) {                                 \
        blend_forward<T>(pyramid, mask, clip, out, u0, u1, threads,                               \
                         Blend{shape[0], shape[1], shape[2]});                                    \
    }                                                                                             \
    void videoattr_blend_backward_##SUFFIX(const T* pyramid, const T* mask, const int64_t* clip,   \
                                           const T* grad, T* grad_mask, int64_t u0, int64_t u1,    \
                                           int32_t threads, const int64_t* shape) {               \
        blend_backward<T>(pyramid, mask, clip, grad, grad_mask, u0, u1, threads,                  \
                          Blend{shape[0], shape[1], shape[2]});                                   \
    }

VIDEOATTR_BLEND_ENTRIES(float, f32)
VIDEOATTR_BLEND_ENTRIES(double, f64)
}

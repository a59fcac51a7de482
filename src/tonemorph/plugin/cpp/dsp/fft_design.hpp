// A plain double-precision radix-2 FFT for designing filters off the audio thread (the
// cabinet's cepstral minimum phase); the audio path uses kissfft.
#pragma once

#include <cmath>
#include <complex>
#include <utility>
#include <vector>

namespace tonemorph {

using cplx = std::complex<double>;

// In-place FFT of a power-of-two length; inverse=true gives the unnormalised inverse.
inline void fft_inplace(std::vector<cplx>& a, bool inverse) {
    const size_t n = a.size();
    for (size_t i = 1, j = 0; i < n; ++i) {
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) std::swap(a[i], a[j]);
    }
    for (size_t len = 2; len <= n; len <<= 1) {
        const double ang = 2 * M_PI / static_cast<double>(len) * (inverse ? 1 : -1);
        for (size_t i = 0; i < n; i += len)
            for (size_t k = 0; k < len / 2; ++k) {
                const cplx w = std::polar(1.0, ang * static_cast<double>(k));
                const cplx u = a[i + k], v = a[i + k + len / 2] * w;
                a[i + k] = u + v;
                a[i + k + len / 2] = u - v;
            }
    }
}

// numpy.fft.irfft(half, n): real signal from n/2+1 bins (Hermitian extension).
inline std::vector<double> irfft(const std::vector<cplx>& half, size_t n) {
    std::vector<cplx> full(n);
    for (size_t k = 0; k <= n / 2; ++k) full[k] = half[k];
    full[0] = cplx(half[0].real(), 0.0);
    full[n / 2] = cplx(half[n / 2].real(), 0.0);
    for (size_t k = 1; k < n / 2; ++k) full[n - k] = std::conj(half[k]);
    fft_inplace(full, true);
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = full[i].real() / static_cast<double>(n);
    return out;
}

inline std::vector<cplx> rfft(const std::vector<double>& x) {
    std::vector<cplx> full(x.begin(), x.end());
    fft_inplace(full, false);
    full.resize(x.size() / 2 + 1);
    return full;
}

}  // namespace tonemorph

/* HMAC-SHA256 (RFC 2104) of every value of an Arrow string array, as lower-case hex.
 *
 * OpenSSL's SHA-256 does the hashing (with the CPU's SHA extensions where it has them); this file only loops, so a
 * million values cost one call from Python instead of a million. The two padded-key states are hashed once per key
 * (hmac_sha256_init) and copied per value, which saves two of the four SHA-256 blocks an HMAC of a short value takes.
 * No OpenSSL headers are needed: SHA256_CTX and the three calls below are OpenSSL's public, stable ABI (sha.h), and
 * the symbols come from the libcrypto the Python process already has loaded (see fast_hmac.py).
 */
#include <stddef.h>
#include <stdint.h>

typedef struct { unsigned int h[8]; unsigned int Nl, Nh; unsigned int data[16]; unsigned int num, md_len; } SHA256_CTX;
int SHA256_Init(SHA256_CTX *c);
int SHA256_Update(SHA256_CTX *c, const void *data, size_t len);
int SHA256_Final(unsigned char *md, SHA256_CTX *c);

typedef struct { SHA256_CTX inner, outer; } hmac_state;

size_t hmac_sha256_state_size(void) { return sizeof(hmac_state); }

/* key_pads: the 64-byte inner pad then the 64-byte outer pad (key XOR 0x36, key XOR 0x5c) */
void hmac_sha256_init(hmac_state *state, const unsigned char *key_pads) {
    SHA256_Init(&state->inner);
    SHA256_Update(&state->inner, key_pads, 64);
    SHA256_Init(&state->outer);
    SHA256_Update(&state->outer, key_pads + 64, 64);
}

/* n values, value i being data[offsets[i] .. offsets[i + 1]); writes hex_chars (even, at most 64) per value to out */
void hmac_sha256_hex(const hmac_state *state, const unsigned char *data, const int32_t *offsets, int64_t n,
                     int hex_chars, char *out) {
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[32];
    for (int64_t i = 0; i < n; i++) {
        SHA256_CTX c = state->inner;
        SHA256_Update(&c, data + offsets[i], (size_t)(offsets[i + 1] - offsets[i]));
        SHA256_Final(digest, &c);
        c = state->outer;
        SHA256_Update(&c, digest, sizeof digest);
        SHA256_Final(digest, &c);
        for (int j = 0; j < hex_chars / 2; j++) {
            *out++ = hex[digest[j] >> 4];
            *out++ = hex[digest[j] & 15];
        }
    }
}

/* The pseudonym of every value that is plain ASCII: spacing runs ([ \t\n\f\r]+) made one space, the ends trimmed,
 * letters lower-cased (landed_file.py's norm_text), then HMAC-SHA256 as hex. done[i] is 1 where value i was
 * pseudonymised here and 0 where it holds another byte (for those, the SQL normalisation runs, so every
 * non-ASCII case rule stays DuckDB's). scratch must hold the longest value. */
void pseudonym_ascii_hex(const hmac_state *state, const unsigned char *data, const int32_t *offsets, int64_t n,
                         int hex_chars, char *out, unsigned char *done, unsigned char *scratch) {
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[32];
    for (int64_t i = 0; i < n; i++, out += hex_chars) {
        const unsigned char *v = data + offsets[i];
        int32_t len = offsets[i + 1] - offsets[i], kept = 0, spacing = 0, ascii = 1;
        for (int32_t k = 0; k < len; k++) {
            unsigned char ch = v[k];
            if (ch >= 0x80) { ascii = 0; break; }
            if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\f' || ch == '\r') { spacing = 1; continue; }
            if (spacing && kept) scratch[kept++] = ' ';
            spacing = 0;
            scratch[kept++] = (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + 32) : ch;
        }
        done[i] = (unsigned char)ascii;
        if (!ascii) continue;
        SHA256_CTX c = state->inner;
        SHA256_Update(&c, scratch, (size_t)kept);
        SHA256_Final(digest, &c);
        c = state->outer;
        SHA256_Update(&c, digest, sizeof digest);
        SHA256_Final(digest, &c);
        for (int j = 0; j < hex_chars / 2; j++) {
            out[2 * j] = hex[digest[j] >> 4];
            out[2 * j + 1] = hex[digest[j] & 15];
        }
    }
}

/* bincount: each bin's base count as `samtools bedcov` computes it for `cnvkit.py coverage`,
 * from one sequential pass over a coordinate-sorted BAM (localgene's coverage engine; see
 * localgene/cnvkit/coverage_counter.py and docs/coverage.md).
 *
 *   bincount [-F FLAGS] [-Q MIN_MAPQ] [-@ THREADS] BAM BINS
 *
 * BINS holds one bin per line, "contig<TAB>start<TAB>end" (0-based, half-open, start <= end <=
 * the contig's length, the contig in the BAM's header). For each bin, in the order given, one
 * line is written: the sum over counted reads of the reference bases the read spans inside
 * the bin. A read is counted unless (flag & FLAGS) != 0 or its MAPQ < MIN_MAPQ (bedcov's
 * filter; CNVkit passes 0x704 and -q); its span is [pos, pos + reference length of its CIGAR):
 * deletions and N skips inside it count, clips and insertions do not, a read whose CIGAR
 * consumes no reference base spans nothing (bedcov's pileup never reports it), and mates are
 * not corrected for overlap. That is what bedcov's pileup (max depth INT_MAX) adds up per
 * position, without building the pileup.
 *
 * Method: with F(x) = sum over reads of |[s, e) n [0, x)| = sum_{s < x} (x - s) - sum_{e < x} (x - e),
 * a bin [a, b) counts F(b) - F(a). The reads come sorted by start; the ends still open sit in a
 * min-heap (its size is the depth), so the pass needs memory for the bins and the depth only.
 * Unplaced reads (at the end of a sorted BAM) are not read.
 *
 * Exit status: 0; 1 bad usage, input or output; 3 the BAM is not coordinate-sorted.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <htslib/sam.h>

typedef struct {
    int tid;
    int64_t pos;
    size_t slot; /* index into values: 2 * bin (its start) or 2 * bin + 1 (its end) */
} point_t;

static int by_place(const void *a, const void *b)
{
    const point_t *p = a, *q = b;
    if (p->tid != q->tid) return p->tid < q->tid ? -1 : 1;
    if (p->pos != q->pos) return p->pos < q->pos ? -1 : 1;
    return 0;
}

typedef struct {
    int64_t *v;
    size_t n, m;
} heap_t;

static int heap_push(heap_t *h, int64_t x)
{
    if (h->n == h->m) {
        size_t m = h->m ? 2 * h->m : 1024;
        int64_t *v = realloc(h->v, m * sizeof *v);
        if (!v) return -1;
        h->v = v, h->m = m;
    }
    size_t i = h->n++;
    while (i > 0 && h->v[(i - 1) / 2] > x) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = x;
    return 0;
}

static int64_t heap_pop(heap_t *h)
{
    int64_t top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c]) ++c;
        if (h->v[c] >= last) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* The reads of one contig seen so far: starts of all, ends of those closed. */
typedef struct {
    int tid;
    int64_t n_start, sum_start, n_end, sum_end;
    heap_t open;
} sweep_t;

static void close_ends(sweep_t *s, int64_t x)
{
    while (s->open.n && s->open.v[0] <= x) {
        s->sum_end += heap_pop(&s->open);
        s->n_end++;
    }
}

/* F(x) for a point on the sweep's contig (every read starting before x seen), else 0. */
static int64_t covered_before(sweep_t *s, const point_t *p)
{
    if (p->tid != s->tid) return 0;
    close_ends(s, p->pos);
    return (s->n_start * p->pos - s->sum_start) - (s->n_end * p->pos - s->sum_end);
}

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "bincount: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 1;
}

int main(int argc, char **argv)
{
    int exclude = 0, min_mapq = 0, threads = 0, c;
    while ((c = getopt(argc, argv, "F:Q:@:")) >= 0) {
        switch (c) {
        case 'F': exclude = (int)strtol(optarg, NULL, 0); break;
        case 'Q': min_mapq = atoi(optarg); break;
        case '@': threads = atoi(optarg); break;
        default: return fail("usage: bincount [-F FLAGS] [-Q MIN_MAPQ] [-@ THREADS] BAM BINS", NULL);
        }
    }
    if (argc - optind != 2) return fail("usage: bincount [-F FLAGS] [-Q MIN_MAPQ] [-@ THREADS] BAM BINS", NULL);

    samFile *in = sam_open(argv[optind], "r");
    if (!in) return fail("cannot open the BAM", strerror(errno));
    if (threads > 0 && hts_set_threads(in, threads) != 0) return fail("cannot start threads", NULL);
    sam_hdr_t *hdr = sam_hdr_read(in);
    if (!hdr) return fail("cannot read the BAM header", argv[optind]);

    FILE *bf = fopen(argv[optind + 1], "r");
    if (!bf) return fail("cannot open the bins", strerror(errno));
    point_t *points = NULL;
    size_t n_bins = 0, m_bins = 0;
    char name[4096];
    int64_t start, end;
    int got;
    while ((got = fscanf(bf, "%4095s %" SCNd64 " %" SCNd64, name, &start, &end)) == 3) {
        int tid = sam_hdr_name2tid(hdr, name);
        if (tid < 0) return fail("a bin on a contig the BAM does not have", name);
        if (start < 0 || end < start || end > (int64_t)sam_hdr_tid2len(hdr, tid))
            return fail("a bin outside its contig", name);
        if (n_bins == m_bins) {
            m_bins = m_bins ? 2 * m_bins : 4096;
            points = realloc(points, 2 * m_bins * sizeof *points);
            if (!points) return fail("out of memory", NULL);
        }
        points[2 * n_bins] = (point_t){tid, start, 2 * n_bins};
        points[2 * n_bins + 1] = (point_t){tid, end, 2 * n_bins + 1};
        n_bins++;
    }
    if (got != EOF || ferror(bf)) return fail("a bins line is not 'contig start end'", argv[optind + 1]);
    fclose(bf);
    size_t n_points = 2 * n_bins, next = 0;
    qsort(points, n_points, sizeof *points, by_place);
    int64_t *values = calloc(n_points ? n_points : 1, sizeof *values);
    if (!values) return fail("out of memory", NULL);

    sweep_t s = {.tid = -1};
    int64_t last_pos = -1;
    bam1_t *b = bam_init1();
    int r;
    while ((r = sam_read1(in, hdr, b)) >= 0) {
        int tid = b->core.tid;
        if (tid < 0) break; /* unplaced reads: the end of a sorted BAM */
        if (tid != s.tid) {
            if (tid < s.tid) goto unsorted;
            while (next < n_points && points[next].tid < tid) {
                values[points[next].slot] = covered_before(&s, &points[next]);
                next++;
            }
            s.tid = tid, s.n_start = s.sum_start = s.n_end = s.sum_end = 0, s.open.n = 0;
            last_pos = -1;
        }
        int64_t pos = b->core.pos;
        if (pos < last_pos) goto unsorted;
        last_pos = pos;
        if ((b->core.flag & exclude) || b->core.qual < min_mapq) continue;
        int64_t span = bam_cigar2rlen(b->core.n_cigar, bam_get_cigar(b));
        if (span <= 0) continue;
        while (next < n_points && points[next].tid == tid && points[next].pos <= pos) {
            values[points[next].slot] = covered_before(&s, &points[next]);
            next++;
        }
        close_ends(&s, pos);
        s.n_start++, s.sum_start += pos;
        if (heap_push(&s.open, pos + span) != 0) return fail("out of memory", NULL);
    }
    if (r < -1) return fail("cannot read the BAM (truncated or corrupt)", argv[optind]);
    for (; next < n_points; next++) values[points[next].slot] = covered_before(&s, &points[next]);

    for (size_t i = 0; i < n_bins; i++)
        if (printf("%" PRId64 "\n", values[2 * i + 1] - values[2 * i]) < 0) return fail("cannot write", NULL);
    if (fflush(stdout) != 0) return fail("cannot write", strerror(errno));
    bam_destroy1(b);
    sam_hdr_destroy(hdr);
    sam_close(in);
    return 0;

unsorted:
    fprintf(stderr, "bincount: the BAM is not coordinate-sorted (%s)\n", bam_get_qname(b));
    return 3;
}

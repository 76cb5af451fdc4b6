package images

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
)

// UpstreamAPIServerCompressed is the compressed size of upstream's
// kube-apiserver image (about 34 MB), the yardstick for component images.
const UpstreamAPIServerCompressed = 34 << 20

// measure fills res.Size, and res.Compressed and res.Tarball when asked.
// Compressed sizes are cached by image ID, tarballs by content tag.
func measure(ctx context.Context, opts Options, res *Result) error {
	size, err := opts.Docker.Size(ctx, res.Ref)
	if err != nil {
		return err
	}
	res.Size = size
	if opts.SaveDir != "" {
		res.Tarball = filepath.Join(opts.SaveDir, res.Name+"-"+res.Tag+".tar")
		if _, err := os.Stat(res.Tarball); err != nil {
			if err := saveTarball(ctx, opts.Docker, res.Tarball, res.Ref, Ref(res.Name, DevTag)); err != nil {
				return err
			}
		}
	}
	if !opts.Compressed {
		return nil
	}
	id, err := opts.Docker.ImageID(ctx, res.Ref)
	if err != nil {
		return err
	}
	cache := filepath.Join(opts.Output, "cache", "compressed", strings.ReplaceAll(id, ":", "-"))
	if b, err := os.ReadFile(cache); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			res.Compressed = n
			return nil
		}
	}
	n, err := compressedSize(ctx, opts.Docker, res.Ref)
	if err != nil {
		return err
	}
	res.Compressed = n
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return fmt.Errorf("cache compressed size: %w", err)
	}
	if err := os.WriteFile(cache, []byte(strconv.FormatInt(n, 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("cache compressed size: %w", err)
	}
	return nil
}

// compressedSize returns the size of `docker save ref | gzip -c`.
func compressedSize(ctx context.Context, d Docker, ref string) (int64, error) {
	var counter countingWriter
	zw := gzip.NewWriter(&counter)
	if err := d.Save(ctx, zw, ref); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("compress %s: %w", ref, err)
	}
	return counter.n, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// saveTarball writes `docker save refs` to path atomically.
func saveTarball(ctx context.Context, d Docker, path string, refs ...string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := d.Save(ctx, f, refs...); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// PrintTable writes the results as a table: image, tag, whether it was
// built, size, compressed size and the share of upstream kube-apiserver's
// compressed size.
func PrintTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tTAG\tBUILT\tSIZE\tCOMPRESSED\tVS UPSTREAM APISERVER (34 MB gz)")
	for _, r := range results {
		built := "cached"
		if r.Built {
			built = "built " + r.Duration.Round(100e6).String()
		}
		comp, share := "-", "-"
		if r.Compressed > 0 {
			comp = MB(r.Compressed)
			if r.Name != "node" {
				share = fmt.Sprintf("%.0f%%", 100*float64(r.Compressed)/UpstreamAPIServerCompressed)
			}
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\n", Repository, r.Name, r.Tag, built, MB(r.Size), comp, share)
	}
	return tw.Flush()
}

// MB formats a byte count in megabytes (2^20) with one decimal.
func MB(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

package app

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	apiserverapp "github.com/kubelab/kubelab/components/apiserver/app"
	"github.com/kubelab/kubelab/components/kubelab/images"
)

// newBuildCommand returns `kubelab build`, the parent of `build images`.
func newBuildCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build kubelab's images",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBuildImagesCommand())
	return cmd
}

func newBuildImagesCommand() *cobra.Command {
	var root string
	opts := images.Options{}
	cmd := &cobra.Command{
		Use:   "images [NAME...]",
		Short: "Build the component, pause, etcd, testapp and node images; only what changed is rebuilt",
		Long: "images compiles kubelab's binaries on the host and builds images/<name>/Dockerfile for each\n" +
			"image (all of them by default), tagged kubelab/<name>:<hash of the build context and build\n" +
			"args> and kubelab/<name>:dev. An image whose tag exists is not built again. The node image's\n" +
			"Debian base (debootstrap) and its runtime tools (containerd, runc, CNI plugins, crictl from\n" +
			"hack/tools) are made once and cached under _output/cache. Nothing is pulled. Prints each\n" +
			"image's size, and its gzip-compressed `docker save` size against upstream kube-apiserver's.\n" +
			"Known images: " + images.Names(images.Catalog()) + ".",
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			if root == "" {
				wd, err := os.Getwd()
				if err != nil {
					return err
				}
				if root, err = images.FindRoot(wd); err != nil {
					return err
				}
			}
			sel, err := images.Select(root, images.Catalog(), args)
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			for _, n := range sel.Notes {
				fmt.Fprintf(stderr, " • Note: %s\n", n)
			}
			opts.Root = root
			opts.Log = stderr
			opts.KubernetesVersion = apiserverapp.GitVersion
			results, err := images.Build(cmd.Context(), opts, sel.Specs)
			if len(results) > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
				if perr := images.PrintTable(cmd.OutOrStdout(), results); perr != nil && err == nil {
					err = perr
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "Built %d images in %s\n", len(results), time.Since(start).Round(100*time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "source", "", "kubelab source tree (default: found from the working directory)")
	cmd.Flags().StringVar(&opts.Output, "output", "", "build output and cache directory (default <source>/_output)")
	cmd.Flags().StringVar(&opts.SaveDir, "save", "", "also write a `docker save` tarball of each image into this directory")
	cmd.Flags().BoolVar(&opts.Compressed, "compressed", true, "measure each image's gzip-compressed `docker save` size (cached per image ID)")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "show `docker build` output")
	cmd.Flags().BoolVar(&opts.KeepOld, "keep-old", false, "keep older content tags of rebuilt images (by default they are removed unless in use)")
	return cmd
}

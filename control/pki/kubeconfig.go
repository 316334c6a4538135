package pki

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes a kubeconfig for one cluster, user and context (all
// named by name, e.g. "skiff"), with server URL, the CA's PEM as
// certificate-authority-data and the bearer token, current-context set;
// mode 0600; written atomically (temp file in the same dir + rename); parent
// dir created 0700.
//
// The server must be an https URL and caPEM must hold a certificate. A
// reader of path sees either the old file or the whole new one; an existing
// file is replaced, whatever its mode was.
func WriteKubeconfig(path, name, server string, caPEM []byte, token string) error {
	if err := checkKubeconfigArgs(name, server, caPEM, token); err != nil {
		return fmt.Errorf("pki: write kubeconfig %s: %w", path, err)
	}
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = server
	cluster.CertificateAuthorityData = caPEM
	user := clientcmdapi.NewAuthInfo()
	user.Token = token
	kctx := clientcmdapi.NewContext()
	kctx.Cluster = name
	kctx.AuthInfo = name
	cfg.Clusters[name] = cluster
	cfg.AuthInfos[name] = user
	cfg.Contexts[name] = kctx
	cfg.CurrentContext = name
	if err := clientcmd.Validate(*cfg); err != nil {
		return fmt.Errorf("pki: write kubeconfig %s: %w", path, err)
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("pki: write kubeconfig %s: encode: %w", path, err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("pki: write kubeconfig: %w", err)
	}
	return nil
}

func checkKubeconfigArgs(name, server string, caPEM []byte, token string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if token == "" {
		return errors.New("empty token")
	}
	u, err := url.Parse(server)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("server %q: want an https URL with a host", server)
	}
	if b := findBlock(caPEM, pemCert); b == nil {
		return fmt.Errorf("CA data: no %q PEM block in %d bytes", pemCert, len(caPEM))
	}
	return nil
}

// writeFileAtomic writes data to path with mode 0600 through a temporary
// file in the same directory, synced and renamed over path; the directory is
// created with mode 0700 if missing.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename durable; failing to is not worth failing the write.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

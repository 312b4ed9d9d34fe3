package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// env is what every scenario shares: where the binaries are, a work
// directory for configs, data and logs, and the progress log.
type env struct {
	bin  string
	work string
	log  io.Writer
	http *http.Client
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "gwbench: "+format+"\n", args...)
}

// proc is one started binary.
type proc struct {
	name    string
	addr    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// freeAddr asks the kernel for a free port on 127.0.0.1. Another process
// could take it before ours binds; the start then fails and says so.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs bin/name with args, its output in a log file of the work
// directory, and waits until its readiness URL answers 200.
func (e *env) start(ctx context.Context, name, addr string, args ...string) (*proc, error) {
	return e.startPath(ctx, filepath.Join(e.bin, name), name, addr, args...)
}

// startPath starts the binary at path, called name in logs and figures.
func (e *env) startPath(ctx context.Context, path, name, addr string, args ...string) (*proc, error) {
	logPath := filepath.Join(e.work, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, addr: addr, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	if err := e.waitReady(ctx, p); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (e *env) waitReady(ctx context.Context, p *proc) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited during start:\n%s", p.name, p.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := e.http.Get("http://" + p.addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s not ready on %s after 60s:\n%s", p.name, p.addr, p.tail())
}

// tail is the end of the process's log, for errors.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// stop sends SIGTERM and, if the process has not exited in 15 s, SIGKILL.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// rss is the resident set in bytes (VmRSS of /proc/PID/status).
func (p *proc) rss() (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// samples is a scrape of a process's /metrics.
type samples model.Vector

func (e *env) metrics(p *proc) (samples, error) {
	resp, err := e.http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s /metrics: %s", p.name, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s /metrics: %w", p.name, err)
	}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, slices.Collect(maps.Values(fams))...)
	return samples(vec), err
}

// sum adds the samples of a metric whose labels match the name=value pairs.
func (ss samples) sum(name string, match ...string) float64 {
	total := 0.0
	for _, s := range ss {
		if string(s.Metric[model.MetricNameLabel]) == name && hasLabels(s.Metric, match) {
			total += float64(s.Value)
		}
	}
	return total
}

// byLabel maps one label's values to the metric's value.
func (ss samples) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range ss {
		if string(s.Metric[model.MetricNameLabel]) == name {
			out[string(s.Metric[model.LabelName(label)])] += float64(s.Value)
		}
	}
	return out
}

func hasLabels(m model.Metric, match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		if string(m[model.LabelName(match[i])]) != match[i+1] {
			return false
		}
	}
	return true
}

// getJSON decodes a GET's JSON answer.
func (e *env) getJSON(rawURL string, out any) error {
	resp, err := e.http.Get(rawURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s %s", rawURL, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// sendJSON sends a body and decodes the answer when out is not nil.
func (e *env) sendJSON(method, rawURL string, body string, out any) error {
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s %s", method, rawURL, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// loadAverage is the one-minute load average.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return v
}

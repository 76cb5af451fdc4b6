#!/usr/bin/env bash
# Checks that the node image really runs pods on this machine's Docker:
# builds what is missing (pause, testapp, node), starts a node container
# with the capability set of DESIGN.md §3 (no --privileged), waits for the
# line kind waits for, imports the pause and testapp images into the node's
# containerd as `kind load` does, runs a testapp pod (serve-hostname) with
# crictl and curls it from inside the node.
#   hack/check-node-image.sh            # KEEP=1 leaves the node running
# Set NODE_ENTRYPOINT=shell to start containerd from a shell script instead
# of node-supervisor (cgroups remounted read-write by hand, as in §3).
set -euo pipefail
cd "$(dirname "$0")/.."

name=${NODE_NAME:-kubelab-node-check}
out=_output
save=$out/images-save
step() { printf ' • %s\n' "$*"; }
fail() { printf ' ✗ %s\n' "$*" >&2; docker logs --tail 40 "$name" >&2 2>&1 || true; exit 1; }
cleanup() { [ "${KEEP:-0}" = 1 ] || docker rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "building images (only what changed)"
go build -trimpath -o $out/bin/kubelab ./cmd/kubelab
$out/bin/kubelab build images --compressed=false node >/dev/null || fail "node image build failed"
$out/bin/kubelab build images --compressed=false --save "$save" pause testapp || fail "image build failed"
# tag NAME: the content tag that kubelab/NAME:dev points at.
tag() {
  local id; id=$(docker image inspect -f '{{.Id}}' "kubelab/$1:dev")
  docker images --no-trunc --format '{{.Tag}} {{.ID}}' "kubelab/$1" | awk -v id="$id" '$2 == id && $1 != "dev" {print $1; exit}'
}
node_tag=$(tag node); pause_tag=$(tag pause); testapp_tag=$(tag testapp)
echo "   node kubelab/node:$node_tag, pause kubelab/pause:$pause_tag, testapp kubelab/testapp:$testapp_tag"

docker rm -f "$name" >/dev/null 2>&1 || true
entry=()
if [ "${NODE_ENTRYPOINT:-supervisor}" = shell ]; then
  # Without node-supervisor: remount each cgroup v1 hierarchy read-write,
  # then run containerd in the foreground.
  entry=(--entrypoint /bin/sh)
  cmd=(-c 'set -e
for d in /sys/fs/cgroup/*/; do
  c=$(basename "$d"); [ -L "${d%/}" ] && continue
  case $c in unified) continue;; systemd) o=none,name=systemd;; *) o=$c;; esac
  umount "$d" 2>/dev/null || true; mount -t cgroup -o "$o" cgroup "$d"
done
mount --make-rshared /
echo "detected cgroup v1 (kubelab check: containerd starting)"
exec containerd --config /etc/containerd/config.toml')
else
  cmd=()
fi
step "starting node container $name (no --privileged)"
# The flags that matter (DESIGN.md §3): every capability but SYS_RESOURCE
# (which this VM's root lacks), no seccomp/AppArmor confinement, /proc and
# /sys writable (systempaths), all devices allowed in the device cgroup,
# tmpfs /tmp and /run, and /var as a volume so overlayfs works there.
docker run -d --name "$name" --hostname "$name" \
  --label io.x-k8s.kind.cluster=kubelab-check --label io.x-k8s.kind.role=control-plane \
  --cap-add ALL --cap-drop SYS_RESOURCE \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
  --device-cgroup-rule 'a *:* rwm' \
  --tmpfs /tmp --tmpfs /run --volume /var \
  "${entry[@]}" "kubelab/node:$node_tag" "${cmd[@]}" >/dev/null

step "waiting for the line kind waits for"
deadline=$((SECONDS + 30))
until docker logs "$name" 2>&1 | grep -Eq 'Reached target .*Multi-User System.*|detected cgroup v1'; do
  [ $SECONDS -lt $deadline ] || fail "node not up within 30s"
  docker inspect -f '{{.State.Running}}' "$name" | grep -q true || fail "node container exited"
  sleep 0.2
done
docker logs "$name" 2>&1 | grep -E 'Reached target|detected cgroup v1' | head -1 | sed 's/^/   /'
echo "   /kind/version: $(docker exec "$name" cat /kind/version)"
deadline=$((SECONDS + 30))
until docker exec "$name" crictl info >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || fail "containerd's CRI not serving within 30s"
  sleep 0.2
done

snap=$(docker exec "$name" containerd config dump 2>/dev/null | sed -n "/io.containerd.cri.v1.images'\]/,/^  \[/p" | awk -F"'" '/^ *snapshotter *=/{print $2; exit}')
step "importing pause and testapp as kind load does (snapshotter ${snap:-?})"
for img in "pause-$pause_tag" "testapp-$testapp_tag"; do
  docker exec -i "$name" ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter="${snap:-overlayfs}" - \
    <"$save/$img.tar" >$out/ctr-import.log 2>&1 || { cat $out/ctr-import.log >&2; fail "ctr images import $img failed"; }
done
docker exec "$name" crictl images | sed 's/^/   /'

step "writing a bridge CNI config (10.244.0.0/24)"
docker exec -i "$name" cp /dev/stdin /etc/cni/net.d/10-kubelab.conflist <<'CNI'
{
  "cniVersion": "1.0.0",
  "name": "kubelab",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
docker exec -i "$name" cp /dev/stdin /tmp/pod.json <<'POD'
{"metadata": {"name": "testapp-check", "namespace": "default", "uid": "check-uid-1", "attempt": 0},
 "hostname": "testapp-check", "log_directory": "/var/log/pods/default_testapp-check_check-uid-1",
 "linux": {"cgroup_parent": "/kubelab-check"}}
POD
docker exec -i "$name" cp /dev/stdin /tmp/container.json <<CTR
{"metadata": {"name": "serve-hostname", "attempt": 0},
 "image": {"image": "docker.io/kubelab/testapp:$testapp_tag"},
 "args": ["serve-hostname"], "log_path": "serve-hostname/0.log", "linux": {}}
CTR

step "crictl runp / create / start"
t0=$(date +%s%N)
pod=$(docker exec "$name" crictl runp /tmp/pod.json) || fail "crictl runp failed"
ctr=$(docker exec "$name" crictl create "$pod" /tmp/container.json /tmp/pod.json) || fail "crictl create failed"
docker exec "$name" crictl start "$ctr" >/dev/null || fail "crictl start failed"
t1=$(date +%s%N)
ip=$(docker exec "$name" crictl inspectp -o go-template --template '{{.status.network.ip}}' "$pod")
printf '   pod %.12s ip %s container %.12s (runp+create+start %.2fs)\n' "$pod" "$ip" "$ctr" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')"

step "curl http://$ip:9376 from inside the node"
deadline=$((SECONDS + 20))
until answer=$(docker exec "$name" curl -sS --max-time 2 "http://$ip:9376/"); do
  [ $SECONDS -lt $deadline ] || fail "pod does not answer"
  sleep 0.2
done
echo "   answer: $answer"
[ "$answer" = testapp-check ] || fail "expected the pod's hostname testapp-check, got '$answer'"
docker exec "$name" crictl ps | sed 's/^/   /'
echo "   container rootfs: $(docker exec "$name" sh -c "grep -c ' /run/containerd/io.containerd.runtime.v2.task/k8s.io/.*/rootfs overlay ' /proc/mounts") overlay mount(s); /var is $(docker exec "$name" stat -f -c %T /var)"
docker exec "$name" crictl logs "$ctr" 2>&1 | tail -2 | sed 's/^/   log: /'
docker exec "$name" crictl stopp "$pod" >/dev/null && docker exec "$name" crictl rmp "$pod" >/dev/null
echo " ✓ node image runs pods: kubelab/node:$node_tag"

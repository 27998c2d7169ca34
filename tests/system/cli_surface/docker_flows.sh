#!/usr/bin/env bash
# Everyday docker commands, typed as a docker user types them, run by podpy through `alias docker=podpy`.
set -euo pipefail
shopt -s expand_aliases
alias docker=podpy
step() { echo "+ $*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step pull; docker pull busybox >/dev/null
step images; docker images | grep -q '^127.0.0.1:5000/busybox *latest'
step tag; docker tag busybox mybox:1.0
docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -qx 'localhost/mybox:1.0'

step "run --rm"; [[ $(docker run --rm busybox echo hello) == hello ]]
step "run exit code"; rc=0; docker run --rm busybox sh -c 'exit 3' || rc=$?; [[ $rc == 3 ]]
step "run -e -w -u"; [[ $(docker run --rm -e FOO=bar -w /tmp -u 1000:1000 busybox sh -c 'echo $FOO $(pwd) $(id -u)') == "bar /tmp 1000" ]]
step "run -d"; docker run -d --name web -p 18987:80 --restart unless-stopped busybox httpd -f -p 80 >/dev/null
step "ps"; docker ps --format '{{.Names}} {{.Status}}' | grep -q '^web Up'
step "ps -q"; [[ $(docker ps -q | wc -l) == 1 ]]
step "inspect -f"; [[ $(docker inspect -f '{{.State.Running}}' web) == true ]]
step "exec"; docker exec web sh -c 'echo from-exec > /tmp/x'
[[ $(docker exec web cat /tmp/x) == from-exec ]]
step "port"; docker port web | grep -q '80/tcp -> 0.0.0.0:18987'
step "logs"; docker run --name talker busybox sh -c 'echo one; echo two' >/dev/null
[[ $(docker logs --tail 1 talker) == two ]]
step "cp"; echo payload > "$work/in.txt"; docker cp "$work/in.txt" web:/tmp/in.txt
docker cp web:/tmp/in.txt "$work/out.txt"; [[ $(cat "$work/out.txt") == payload ]]
step "stop/start/restart"; docker stop -t 1 web >/dev/null; docker start web >/dev/null; docker restart -t 1 web >/dev/null
step "commit"; docker commit web mysnap >/dev/null; docker image inspect mysnap >/dev/null
step "volume"; docker volume create data >/dev/null
docker run --rm -v data:/data busybox sh -c 'echo kept > /data/f'
[[ $(docker run --rm -v data:/data:ro busybox cat /data/f) == kept ]]
docker volume ls -q | grep -qx data
step "network"; docker network create appnet >/dev/null
docker run -d --name db --network appnet busybox sleep 300 >/dev/null
docker network inspect appnet >/dev/null; docker network ls --format '{{.Name}}' | grep -qx appnet
step "build"; printf 'FROM busybox\nRUN echo built > /built\nCMD ["cat", "/built"]\n' > "$work/Dockerfile"
docker build -q -t myapp "$work" >/dev/null
[[ $(docker run --rm myapp) == built ]]
step "login/push/pull"; echo "$REG_PASS" | docker login -u "$REG_USER" --password-stdin "$REG_AUTH_HOST" >/dev/null
repo="$REG_AUTH_HOST/dockerflows-$$/myapp:1"
docker tag myapp "$repo"; docker push "$repo" >/dev/null 2>&1; docker rmi "$repo" >/dev/null
docker pull "$repo" >/dev/null 2>&1; docker logout "$REG_AUTH_HOST" >/dev/null
step "save/load"; docker save -q -o "$work/app.tar" myapp; docker rmi myapp >/dev/null; docker load -i "$work/app.tar" >/dev/null
step "kill/rm"; docker kill web db >/dev/null; docker rm web db talker >/dev/null
step "rm volume/network"; docker volume rm data >/dev/null; docker network rm appnet >/dev/null
step "rmi"; docker rmi mybox:1.0 mysnap myapp >/dev/null
step "system prune"; docker system prune -f >/dev/null
[[ -z $(docker ps -aq) ]]
echo "docker flows: ok"

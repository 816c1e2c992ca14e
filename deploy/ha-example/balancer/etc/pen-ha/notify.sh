#!/bin/sh
# /etc/pen-ha/notify.sh: penvrrp runs it on every transition as
#   notify.sh INSTANCE NAME STATE PRIORITY        (STATE: MASTER BACKUP FAULT STOP)
# It runs as penvrrp's user, asynchronously: it must never be needed for the failover itself.
logger -t pen-ha -- "VRRP $2 is now $3 (priority $4)" 2>/dev/null || true
echo "$(date +%s.%N) $2 $3 $4" >> /run/penvrrp/transitions.log 2>/dev/null || true

# Source me: the environment every haze_ros command and test runs in (no ROS 2 install needed).
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_here/.venv/bin:$PATH"
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
export ROS_LOG_DIR=${ROS_LOG_DIR:-/tmp/haze_ros_ros_log}
# shared-memory transport for large best-effort images between processes (see config/fastdds_shm.xml)
export FASTDDS_DEFAULT_PROFILES_FILE=${FASTDDS_DEFAULT_PROFILES_FILE:-$_here/config/fastdds_shm.xml}
export PYTHONUNBUFFERED=1
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE _here

// What a backup cut short leaves behind, and how it is found again: temp
// files of a consolidation whose writer died ("<name>.cvb.tmp.<pid>"), node
// copies of schedules that are over, and the ids earlier incarnations of a
// cluster used (so that a new one never reuses them). Used by the launcher at
// `cluster up` and by nodes and targets at the next backup.
#pragma once

#include <cstdint>
#include <string>

namespace cv::shm {

// One more than the highest backup id recorded under <data_dir>/schedules
// (milestone files, target/milestones.h), or 1: the first id a new
// incarnation of the cluster may use.
uint64_t first_unused_schedule_id(const std::string& data_dir);

// Removes "*.cvb.tmp.<pid>" files in dir whose writer (pid) is gone.
// Returns how many it removed.
size_t remove_dead_backup_temps(const std::string& dir);

// Removes node copies ("node*/backup-*.copy*") under data_dir whose schedule
// id is not keep_id (0: every one). Returns how many it removed.
size_t remove_node_copies(const std::string& data_dir, int node, uint64_t keep_id);

// At `cluster up`, before any process of the cluster runs: removes every
// node copy and every dead temp file in the default backup directory.
size_t remove_cluster_leftovers(const std::string& data_dir, uint32_t serving_nodes);

}  // namespace cv::shm

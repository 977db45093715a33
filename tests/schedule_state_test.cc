// The schedule state machine (shm/schedule_state.h), transition by
// transition: every legal step of a schedule and of a node's entry is
// applied, every other one (including states no enum names, as a hostile
// or broken peer could write them into the block) is refused and leaves
// the state as it was.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <utility>

#include "shm/schedule_state.h"

namespace cv::shm {
namespace {

using S = ScheduleState;
using E = EntryState;

// The protocol's steps, written out here independently of the code under
// test (see the diagram in shm/schedule_state.h and ../shared/DESIGN.md).
const std::set<std::pair<S, S>> kLegalScheduleSteps = {
    {S::kFree, S::kCreated},
    {S::kCreated, S::kEnable},
    {S::kCreated, S::kFailed},
    {S::kEnable, S::kCopyCompleted},
    {S::kEnable, S::kFailed},
    {S::kCopyCompleted, S::kConsolidationCompleted},
    {S::kCopyCompleted, S::kFailed},
    {S::kCopyCompleted, S::kEnable},  // failover: the new target redoes the copies
};

const std::set<std::pair<E, E>> kLegalEntrySteps = {
    {E::kPending, E::kSnapshotting}, {E::kPending, E::kFailed},
    {E::kSnapshotting, E::kSending}, {E::kSnapshotting, E::kFailed},
    {E::kSending, E::kSending},      // a new attempt
    {E::kSending, E::kSent},         {E::kSending, E::kFailed},
    {E::kSent, E::kSending},         // re-sent after a failover
    {E::kSent, E::kFailed},
};

// Every named state, and values past the last one.
constexpr uint32_t kScheduleValues[] = {0, 1, 2, 3, 4, 5, 6, 77, 0xffffffffu};
constexpr uint32_t kEntryValues[] = {0, 1, 2, 3, 4, 5, 6, 77, 0xffffffffu};

std::unique_ptr<ScheduleSlot> SlotIn(uint32_t state) {
  auto s = std::make_unique<ScheduleSlot>();
  s->id = 42;
  s->state.store(state);
  return s;
}

TEST(ScheduleStateTest, EveryLegalScheduleStepIsAppliedAndEveryOtherRefused) {
  int legal = 0;
  for (uint32_t from : kScheduleValues)
    for (uint32_t to : kScheduleValues) {
      if (to > uint32_t(S::kFailed)) continue;  // set_schedule_state takes a named state
      const bool want = kLegalScheduleSteps.count({S(from), S(to)}) > 0;
      auto s = SlotIn(from);
      EXPECT_EQ(schedule_transition_allowed(S(from), S(to)), want) << from << " -> " << to;
      EXPECT_EQ(set_schedule_state(*s, S(to)), want) << from << " -> " << to;
      EXPECT_EQ(s->state.load(), want ? to : from) << from << " -> " << to;
      legal += want;
    }
  EXPECT_EQ(legal, int(kLegalScheduleSteps.size()));
}

TEST(ScheduleStateTest, EveryLegalEntryStepIsAppliedAndEveryOtherRefused) {
  int legal = 0;
  for (uint32_t from : kEntryValues)
    for (uint32_t to : kEntryValues) {
      if (to > uint32_t(E::kFailed)) continue;
      const bool want = kLegalEntrySteps.count({E(from), E(to)}) > 0;
      auto s = SlotIn(uint32_t(S::kEnable));
      s->entries[2].state.store(from);
      s->entries[1].state.store(uint32_t(E::kPending));
      EXPECT_EQ(entry_transition_allowed(E(from), E(to)), want) << from << " -> " << to;
      EXPECT_EQ(set_entry_state(*s, 2, E(to)), want) << from << " -> " << to;
      EXPECT_EQ(s->entries[2].state.load(), want ? to : from) << from << " -> " << to;
      EXPECT_EQ(s->entries[1].state.load(), uint32_t(E::kPending)) << "another node's entry changed";
      EXPECT_EQ(s->state.load(), uint32_t(S::kEnable)) << "an entry step changed the schedule";
      legal += want;
    }
  EXPECT_EQ(legal, int(kLegalEntrySteps.size()));
}

TEST(ScheduleStateTest, AnEntryOfANodeThatCannotExistIsRefused) {
  auto s = SlotIn(uint32_t(S::kEnable));
  EXPECT_FALSE(set_entry_state(*s, uint32_t(kMaxServingNodes), E::kSnapshotting));
  EXPECT_FALSE(set_entry_state(*s, 60000, E::kFailed));
  EXPECT_FALSE(set_entry_state(*s, 0xffffffffu, E::kFailed));
}

// The whole protocol, as the processes drive it: a backup that fails over
// once and completes, node by node; then nothing moves a finished schedule.
TEST(ScheduleStateTest, ABackupWithAFailoverWalksTheMachineToTheEnd) {
  auto s = SlotIn(uint32_t(S::kFree));
  ASSERT_TRUE(set_schedule_state(*s, S::kCreated));
  init_entry_state(s->entries[0], E::kPending);
  init_entry_state(s->entries[1], E::kPending);
  ASSERT_TRUE(set_schedule_state(*s, S::kEnable));
  for (uint32_t n : {0u, 1u}) {
    ASSERT_TRUE(set_entry_state(*s, n, E::kSnapshotting));
    ASSERT_TRUE(set_entry_state(*s, n, E::kSending));
  }
  ASSERT_TRUE(set_entry_state(*s, 0, E::kSent));
  ASSERT_TRUE(set_entry_state(*s, 1, E::kFailed));
  ASSERT_TRUE(set_schedule_state(*s, S::kCopyCompleted));
  ASSERT_TRUE(set_schedule_state(*s, S::kEnable));  // the target died: another redoes it
  ASSERT_TRUE(set_entry_state(*s, 0, E::kSending));
  EXPECT_FALSE(set_entry_state(*s, 1, E::kSending)) << "a failed copy stays failed";
  ASSERT_TRUE(set_entry_state(*s, 0, E::kSent));
  ASSERT_TRUE(set_schedule_state(*s, S::kCopyCompleted));
  ASSERT_TRUE(set_schedule_state(*s, S::kConsolidationCompleted));
  for (uint32_t to = 0; to <= uint32_t(S::kFailed); ++to) EXPECT_FALSE(set_schedule_state(*s, S(to))) << to;
  EXPECT_EQ(s->state.load(), uint32_t(S::kConsolidationCompleted));
  reset_schedule_slot(*s);
  EXPECT_EQ(s->id, 0u);
  EXPECT_EQ(s->state.load(), uint32_t(S::kFree));
}

// Freeing a slot is not a transition: it works from any state, including
// garbage, so a malformed slot can always be dropped.
TEST(ScheduleStateTest, ResetFreesASlotFromAnyState) {
  for (uint32_t from : kScheduleValues) {
    auto s = SlotIn(from);
    reset_schedule_slot(*s);
    EXPECT_EQ(s->id, 0u);
    EXPECT_EQ(s->state.load(), uint32_t(S::kFree)) << from;
  }
}

}  // namespace
}  // namespace cv::shm

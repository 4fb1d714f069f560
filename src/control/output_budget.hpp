// SPDX-License-Identifier: GPL-2.0-or-later
// The bytes fipd holds for clients that have not read them yet, over every
// connection of the control socket and the health listener together.
//
// Each connection bounds its own queue (max_output, a few answers), but
// 1,024 watchers that never read, each at its bound, made about 4 GiB. One
// budget over all of them (kOutputBudget, 16 MiB) keeps that total under
// control; the control server enforces it by dropping, once the total is
// past the budget, the clients that hold the most unread output first (see
// ControlServer). A shared status document counts once, however many
// clients read it.
//
// Holders keep a Charge: set() it to what they hold now; it gives its share
// back when it dies. The budget must outlive its charges.
//
// Owns: nothing but the counts. Thread: the loop's. Failures: none.
#pragma once

#include <cstddef>
#include <memory>

namespace fipd::control {

inline constexpr size_t kOutputBudget = 16 * 1024 * 1024;

class OutputBudget {
 public:
  explicit OutputBudget(size_t limit = kOutputBudget) : limit_(limit) {}
  OutputBudget(const OutputBudget&) = delete;
  OutputBudget& operator=(const OutputBudget&) = delete;

  size_t limit() const { return limit_; }
  size_t used() const { return used_; }
  bool over() const { return used_ > limit_; }

  class Charge {
   public:
    Charge() = default;
    explicit Charge(OutputBudget& b) : budget_(&b) {}
    Charge(Charge&& o) noexcept : budget_(o.budget_), held_(o.held_) { o.budget_ = nullptr; }
    Charge& operator=(Charge&& o) noexcept {
      if (this != &o) {
        set(0);
        budget_ = o.budget_;
        held_ = o.held_;
        o.budget_ = nullptr;
      }
      return *this;
    }
    ~Charge() { set(0); }
    void set(size_t bytes) {
      if (budget_) budget_->used_ = budget_->used_ - held_ + bytes;
      held_ = bytes;
    }
    size_t held() const { return held_; }

   private:
    OutputBudget* budget_ = nullptr;
    size_t held_ = 0;
  };

 private:
  size_t limit_;
  size_t used_ = 0;
};

}  // namespace fipd::control

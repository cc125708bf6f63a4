// The bridge between a deepracer-local sim worker and gzserver: a Gazebo 11 world plugin that speaks ROS 1
// with standard message types (namespace /deepracer):
//
//   world   std_msgs/String (JSON)  in   {"id", "files": {name: text}, "models": [sdf], "names": [model],
//                                         "remove": [model], "cameras": n, "car_key": sensors, "track_key":
//                                         digest, "objects": [model]}: write the files
//                                         (meshes) into a fresh folder, replace @WORLD_DIR@ in the SDF with it,
//                                         remove and insert the models; the car is inserted once and kept;
//                                         "objects" names the models (boxes, bot cars) the commands place;
//                                         the previous world's objects are removed
//   events  std_msgs/String (JSON)  out  {"event": "ready"} at start; {"id", "ok", "error", "cameras",
//                                         "step_size_s"} after each world message (latched)
//   command std_msgs/Float64MultiArray in  [seq, op, ...]:
//             op 1 STEP  [seq, 1, steering_rad, wheel_speed_rad_s, objects...]: both steering hinges to the
//                        angle, all four wheels to the speed, then advance one frame (1/15 s of simulated time)
//             op 2 POSE  [seq, 2, x, y, yaw, objects...]: put the car there at rest (z 0, commands 0), then
//                        advance one frame with zero commands (the reference unpauses until a new frame after
//                        a reset)
//             objects:   x, y, yaw of each object of the world, in its "objects" order (all or none): placed
//                        there (on the ground, at rest) before the physics steps; kinematic models, so they
//                        stay where they are put and the car runs into them
//   camera  sensor_msgs/Image       out  each camera's frame at the end of the step (rgb8, frame_id
//                                         "<seq> <camera index>", stamp = simulated time)
//   lidar   sensor_msgs/LaserScan   out  with a car that has a ray sensor ("lidars": 1 in the world message):
//                                         its latest scan at the end of the step (it scans at its own 10 Hz,
//                                         as the reference's; frame_id "<seq> lidar", stamp = the scan's time)
//   state   std_msgs/Float64MultiArray out [seq, sim_time_s, x, y, z, roll, pitch, yaw, vx, vy, vz, wx, wy, wz,
//                                         steer_left_rad, steer_right_rad, w_left_rear, w_right_rear,
//                                         w_left_front, w_right_front (rad/s), extra_physics_steps, wall_ms]
//                                         after the camera frames of the same step
//
// Lockstep: the world stays paused; a step ends at the physics step where the 15 Hz camera renders its
// next frame (the step nearest Sensor::NextRequiredTimestamp: gzserver --lockstep keeps the camera on a
// strict 1/15 s schedule and holds physics while it renders), so each step is 66 or 67 ms of simulated
// time and ends with a frame of that instant; without a camera, at the next multiple of 1/15 s. A frame
// that does not come is waited for step by step (extra_physics_steps says how many).
//
// Controllers: the reference's v5 ros_control semantics (gazebo_ros_control DefaultRobotHWSim with
// pid_gains): per physics step an effort from a PID on (command - state), clamped to the joint's effort
// limit, applied with SetForce. Wheels: velocity PID p 1.0 (rear) / 0.5 (front); hinges: position PID
// p 1.0, d 0.5 (docs/gazebo-v5-facts.md 1.5).
#include <gazebo/common/Events.hh>
#include <gazebo/common/Plugin.hh>
#include <gazebo/physics/physics.hh>
#include <gazebo/rendering/rendering.hh>
#include <gazebo/sensors/sensors.hh>

#include <nlohmann/json.hpp>
#include <ros/ros.h>
#include <sensor_msgs/Image.h>
#include <sensor_msgs/LaserScan.h>
#include <std_msgs/Float64MultiArray.h>
#include <std_msgs/String.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace gazebo {

namespace {
constexpr double kFrameS = 1.0 / 15.0;
constexpr double kEffortLimit = 10.0;
const char *kCarName = "racecar";
const char *kTrackName = "racetrack";
// wheel joints in the order of the state message, with their velocity P gains
const char *kWheelJoints[4] = {"left_rear_wheel_joint", "right_rear_wheel_joint", "left_front_wheel_joint",
                               "right_front_wheel_joint"};
const double kWheelP[4] = {1.0, 1.0, 0.5, 0.5};
const char *kHingeJoints[2] = {"left_steering_hinge_joint", "right_steering_hinge_joint"};
constexpr double kHingeP = 1.0, kHingeD = 0.5;

double clamp_effort(double e) { return std::max(-kEffortLimit, std::min(kEffortLimit, e)); }

struct Frame {
  std::vector<uint8_t> data;
  unsigned width = 0, height = 0;
  double stamp_s = -1.0;
  uint64_t count = 0;
};
}  // namespace

class DeepRacerBridge : public WorldPlugin {
 public:
  ~DeepRacerBridge() override {
    {
      std::lock_guard<std::mutex> lock(jobs_mutex_);
      stop_ = true;
    }
    jobs_cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    if (spinner_) spinner_->stop();
  }

  void Load(physics::WorldPtr world, sdf::ElementPtr) override {
    world_ = world;
    if (!ros::isInitialized()) {
      int argc = 0;
      ros::init(argc, nullptr, "deepracer_bridge", ros::init_options::NoSigintHandler);
    }
    nh_.reset(new ros::NodeHandle("deepracer"));
    events_pub_ = nh_->advertise<std_msgs::String>("events", 10, true);
    state_pub_ = nh_->advertise<std_msgs::Float64MultiArray>("state", 10);
    camera_pub_ = nh_->advertise<sensor_msgs::Image>("camera", 4);
    lidar_pub_ = nh_->advertise<sensor_msgs::LaserScan>("lidar", 4);
    spinner_.reset(new ros::AsyncSpinner(1));
    spinner_->start();
    update_ = event::Events::ConnectWorldUpdateBegin(
        std::bind(&DeepRacerBridge::OnUpdate, this, std::placeholders::_1));
    world_->SetPaused(true);
    worker_ = std::thread(&DeepRacerBridge::Run, this);
  }

 private:
  // ------------------------------------------------------------------ ROS callbacks (queue the work)
  void OnWorld(const std_msgs::String::ConstPtr &msg) {
    std::string text = msg->data;
    Queue([this, text] { LoadWorld(text); });
  }

  void OnCommand(const std_msgs::Float64MultiArray::ConstPtr &msg) {
    std::vector<double> d = msg->data;
    Queue([this, d] { Command(d); });
  }

  void Queue(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(jobs_mutex_);
      jobs_.push_back(std::move(job));
    }
    jobs_cv_.notify_one();
  }

  void Run() {
    // Take requests only once the server runs its world: a model inserted while gzserver is still
    // starting up can crash it (a sensor finding no world). Workers wait for these subscriptions.
    while (!world_->Running()) {
      {
        std::lock_guard<std::mutex> lock(jobs_mutex_);
        if (stop_) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    world_sub_ = nh_->subscribe("world", 2, &DeepRacerBridge::OnWorld, this);
    command_sub_ = nh_->subscribe("command", 16, &DeepRacerBridge::OnCommand, this);
    Publish({{"event", "ready"}, {"step_size_s", world_->Physics()->GetMaxStepSize()}});
    gzmsg << "deepracer_bridge: ready (ROS namespace /deepracer)\n";
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(jobs_mutex_);
        jobs_cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (stop_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      try {
        job();
      } catch (const std::exception &e) {
        Publish({{"ok", false}, {"error", std::string("bridge: ") + e.what()}});
      }
    }
  }

  void Publish(const nlohmann::json &j) {
    std_msgs::String s;
    s.data = j.dump();
    events_pub_.publish(s);
  }

  // ------------------------------------------------------------------ world
  void LoadWorld(const std::string &text) {
    nlohmann::json req = nlohmann::json::parse(text);
    const std::string id = req.value("id", "world");
    nlohmann::json reply = {{"id", id}, {"ok", false}};
    try {
      expected_cameras_ = req.value("cameras", 1);
      expected_lidars_ = req.value("lidars", 0);
      {
        std::lock_guard<std::mutex> lock(car_mutex_);
        car_.reset();
        wheels_.clear();
        hinges_.clear();
      }
      cameras_.clear();
      rays_.clear();
      camera_links_.clear();
      // The car stays once inserted: removing a model with camera sensors from a paused world crashes
      // gzserver 11 (tried). A world message for a car with other sensors is refused instead.
      const std::string car_key = req.value("car_key", "");
      const bool keep_car = world_->ModelByName(kCarName) != nullptr;
      if (keep_car && car_key != car_key_)
        throw std::runtime_error("this Gazebo sim's car has sensors " + car_key_ + ", the model needs " + car_key +
                                 ": restart the sim-gazebo container to change them");
      // The same track again (a worker restarted): keep it, so the rendering scene needs no reload.
      const std::string track_key = req.value("track_key", "");
      const bool keep_track = !track_key.empty() && track_key == track_key_ && world_->ModelByName(kTrackName);
      std::vector<std::string> remove = req.value("remove", std::vector<std::string>{});
      {
        std::lock_guard<std::mutex> lock(car_mutex_);
        remove.insert(remove.end(), object_names_.begin(), object_names_.end());
        objects_.clear();
        object_names_.clear();
      }
      std::vector<std::string> removed;
      for (const auto &name : remove) {
        if (name == kCarName || (keep_track && name == kTrackName)) continue;
        if (world_->ModelByName(name)) {
          world_->RemoveModel(name);
          removed.push_back(name);
        }
      }
      // a model of the same name inserted before the old one is gone would be confused with it (a
      // command then moved the dying one: gzserver 11 aborts)
      WaitFor([&] {
        for (const auto &n : removed)
          if (world_->ModelByName(n)) return false;
        return true;
      }, 20.0, "the previous world's models to go");
      if (!keep_track) track_key_.clear();
      std::string dir = "/tmp/deepracer-world/" + std::to_string(++world_count_);
      mkdir("/tmp/deepracer-world", 0755);
      mkdir(dir.c_str(), 0755);
      const nlohmann::json files = req.value("files", nlohmann::json::object());
      for (auto &kv : files.items()) {
        if (kv.key().find('/') != std::string::npos || kv.key().empty() || kv.key()[0] == '.')
          throw std::runtime_error("file name not allowed: " + kv.key());
        std::ofstream out(dir + "/" + kv.key());
        out << kv.value().get<std::string>();
        if (!out) throw std::runtime_error("cannot write " + dir + "/" + kv.key());
      }
      const auto models = req.value("models", std::vector<std::string>{});
      const auto model_names = req.value("names", std::vector<std::string>{});
      for (size_t m = 0; m < models.size(); ++m) {
        const std::string name = m < model_names.size() ? model_names[m] : "";
        if ((keep_car && name == kCarName) || (keep_track && name == kTrackName)) continue;
        std::string sdf_text = models[m];
        for (size_t at; (at = sdf_text.find("@WORLD_DIR@")) != std::string::npos;)
          sdf_text.replace(at, 11, dir);
        world_->InsertModelString(sdf_text);
      }
      car_key_ = car_key;
      WaitFor([&] {
        for (const auto &n : model_names)
          if (!world_->ModelByName(n)) return false;
        return true;
      }, 20.0, "models " + nlohmann::json(model_names).dump() + " to appear");
      physics::ModelPtr car = world_->ModelByName(kCarName);
      if (car) AttachCar(car);
      {
        std::vector<physics::ModelPtr> objects;
        const auto object_names = req.value("objects", std::vector<std::string>{});
        for (const auto &n : object_names) {
          physics::ModelPtr m = world_->ModelByName(n);
          if (!m) throw std::runtime_error("object model " + n + " is not in the world (list it in names)");
          objects.push_back(m);
        }
        std::lock_guard<std::mutex> lock(car_mutex_);
        objects_ = objects;
        object_names_ = object_names;
      }
      if (expected_cameras_ > 0) WaitForScene(model_names);
      track_key_ = track_key;
      reply["ok"] = true;
      reply["cameras"] = camera_names_;
      reply["objects"] = object_names_;
      reply["lidars"] = rays_.size();
      reply["step_size_s"] = world_->Physics()->GetMaxStepSize();
      reply["sim_time_s"] = world_->SimTime().Double();
    } catch (const std::exception &e) {
      reply["error"] = e.what();
    }
    Publish(reply);
  }

  // Waits (wall time) for cond; while the world is paused some of Gazebo's queues only move when it
  // steps, so after 1 s it steps one physics step per try.
  template <typename F>
  void WaitFor(F cond, double timeout_s, const std::string &what) {
    auto t0 = std::chrono::steady_clock::now();
    while (!cond()) {
      double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (waited > timeout_s) throw std::runtime_error("timed out waiting for " + what);
      if (waited > 1.0) StepPhysics(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // The cameras render a scene of their own, updated from the world's messages when they render: before
  // the first frame of a new world is taken, the scene must hold every model's visual, else a frame shows
  // the old track or none. The car stays at rest meanwhile (its commands are 0).
  void WaitForScene(const std::vector<std::string> &names) {
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      rendering::ScenePtr scene = rendering::get_scene();
      bool all = scene != nullptr;
      for (const auto &n : names)
        if (all && !scene->GetVisual(n)) all = false;
      if (all) break;
      if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(30))
        throw std::runtime_error("the camera's scene did not get the new models in 30 s");
      StepPhysics(unsigned(std::ceil(kFrameS / world_->Physics()->GetMaxStepSize())));
    }
    // and a few more frames for the visuals' meshes and materials
    StepPhysics(3 * unsigned(std::ceil(kFrameS / world_->Physics()->GetMaxStepSize())));
  }

  // The car's sensors of type T (created by the sensor manager shortly after the model appears).
  template <typename T>
  static std::vector<std::shared_ptr<T>> CarSensors() {
    std::vector<std::shared_ptr<T>> out;
    for (auto &s : sensors::SensorManager::Instance()->GetSensors()) {
      auto typed = std::dynamic_pointer_cast<T>(s);
      if (typed && s->ScopedName().find(std::string("::") + kCarName + "::") != std::string::npos)
        out.push_back(typed);
    }
    return out;
  }

  void AttachCar(physics::ModelPtr car) {
    std::vector<physics::JointPtr> wheels, hinges;
    for (const char *n : kWheelJoints) {
      auto j = car->GetJoint(n);
      if (!j) throw std::runtime_error(std::string("the car has no joint ") + n);
      wheels.push_back(j);
    }
    for (const char *n : kHingeJoints) {
      auto j = car->GetJoint(n);
      if (!j) throw std::runtime_error(std::string("the car has no joint ") + n);
      hinges.push_back(j);
    }
    // the car's camera sensors (created by the sensor manager shortly after the model appears)
    camera_names_.clear();
    WaitFor([&] {
      cameras_.clear();
      for (auto &cam : CarSensors<sensors::CameraSensor>())
        if (cam->Camera()) cameras_.push_back(cam);
      return cameras_.size() >= expected_cameras_;
    }, 20.0, "the car's camera sensors");
    WaitFor([&] {
      rays_ = CarSensors<sensors::RaySensor>();
      return rays_.size() >= expected_lidars_;
    }, 20.0, "the car's ray sensor");
    // a first scan before the first step (the sensor scans on its own 10 Hz schedule)
    WaitFor([&] {
      for (auto &r : rays_)
        if (r->LastMeasurementTime().Double() <= 0.0) return false;
      return true;
    }, 20.0, "the car's ray sensor to scan");
    std::sort(cameras_.begin(), cameras_.end(),
              [](const sensors::CameraSensorPtr &a, const sensors::CameraSensorPtr &b) { return a->Name() < b->Name(); });
    {
      std::lock_guard<std::mutex> lock(frames_mutex_);
      frames_.assign(cameras_.size(), Frame());
    }
    camera_links_.clear();
    for (size_t i = 0; i < cameras_.size(); ++i) {
      camera_names_.push_back(cameras_[i]->Name());
      auto cam = cameras_[i];
      camera_links_.push_back(cam->ConnectUpdated([this, i, cam] { OnFrame(i, cam); }));
    }
    std::lock_guard<std::mutex> lock(car_mutex_);
    car_ = car;
    wheels_ = wheels;
    hinges_ = hinges;
    wheel_target_ = 0.0;
    steer_target_ = 0.0;
    hinge_prev_error_.assign(2, 0.0);
  }

  void OnFrame(size_t i, const sensors::CameraSensorPtr &cam) {
    const unsigned char *data = cam->ImageData();
    if (!data) return;
    std::lock_guard<std::mutex> lock(frames_mutex_);
    if (i >= frames_.size()) return;
    Frame &f = frames_[i];
    f.width = cam->ImageWidth();
    f.height = cam->ImageHeight();
    f.data.assign(data, data + size_t(f.width) * f.height * 3);
    f.stamp_s = cam->LastMeasurementTime().Double();
    f.count += 1;
    frames_cv_.notify_all();
  }

  // ------------------------------------------------------------------ stepping
  void StepPhysics(unsigned n) {
    const uint64_t target = world_->Iterations() + n;
    world_->Step(n);
    auto t0 = std::chrono::steady_clock::now();
    while (world_->Iterations() < target) {
      if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(60))
        throw std::runtime_error("the world did not step (60 s)");
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  void Command(const std::vector<double> &d) {
    if (d.size() < 2) throw std::runtime_error("command needs [seq, op, ...]");
    const double seq = d[0];
    const int op = int(d[1]);
    physics::ModelPtr car;
    {
      std::lock_guard<std::mutex> lock(car_mutex_);
      car = car_;
    }
    if (!car) {
      Publish({{"seq", seq}, {"ok", false}, {"error", "no car in the world: send a world message first"}});
      return;
    }
    if (op != 1 && op != 2) {
      Publish({{"seq", seq}, {"ok", false}, {"error", "unknown command op " + std::to_string(op)}});
      return;
    }
    const size_t base = op == 1 ? 4 : 5;
    {
      std::lock_guard<std::mutex> lock(car_mutex_);
      if (d.size() != base && d.size() != base + 3 * objects_.size()) {
        Publish({{"seq", seq}, {"ok", false},
                 {"error", "command op " + std::to_string(op) + " needs " + std::to_string(base) + " values, or " +
                           std::to_string(base + 3 * objects_.size()) + " with the poses of the world's " +
                           std::to_string(objects_.size()) + " objects; got " + std::to_string(d.size())}});
        return;
      }
      for (size_t k = 0; d.size() > base && k < objects_.size(); ++k) {
        objects_[k]->SetWorldPose(ignition::math::Pose3d(d[base + 3 * k], d[base + 3 * k + 1], 0.0, 0.0, 0.0,
                                                         d[base + 3 * k + 2]));
        objects_[k]->SetLinearVel(ignition::math::Vector3d::Zero);
        objects_[k]->SetAngularVel(ignition::math::Vector3d::Zero);
      }
    }
    if (op == 1) {
      std::lock_guard<std::mutex> lock(car_mutex_);
      steer_target_ = d[2];
      wheel_target_ = d[3];
    } else if (op == 2) {
      std::lock_guard<std::mutex> lock(car_mutex_);
      steer_target_ = 0.0;
      wheel_target_ = 0.0;
      hinge_prev_error_.assign(2, 0.0);
      car->SetWorldPose(ignition::math::Pose3d(d[2], d[3], 0.0, 0.0, 0.0, d[4]));
      car->SetLinearVel(ignition::math::Vector3d::Zero);
      car->SetAngularVel(ignition::math::Vector3d::Zero);
      for (auto &j : wheels_) j->SetVelocity(0, 0.0);
      for (auto &j : hinges_) {
        j->SetPosition(0, 0.0);
        j->SetVelocity(0, 0.0);
      }
    }
    AdvanceFrame(seq, car);
  }

  void AdvanceFrame(double seq, const physics::ModelPtr &car) {
    auto wall0 = std::chrono::steady_clock::now();
    const double dt = world_->Physics()->GetMaxStepSize();
    const double now_s = world_->SimTime().Double();
    // the frame grid: the first physics step at or after the next multiple of 1/15 s, or with cameras
    // the first one at or after the time their next frame is due (their own 15 Hz schedule, which
    // --lockstep keeps; waiting for a frame that is not due yet would stall the step)
    uint64_t steps = std::max<int64_t>(1, int64_t(std::ceil(
        ((std::floor(now_s / kFrameS + 1e-6) + 1.0) * kFrameS - now_s) / dt - 1e-6)));
    if (!cameras_.empty()) {
      // the camera's own 15 Hz schedule (strict under --lockstep; its phase is set by the step it first
      // rendered at): it renders at the physics step nearest the time its next frame is due
      const double due_s = cameras_[0]->NextRequiredTimestamp();
      if (std::isfinite(due_s) && due_s > now_s + dt / 2 && due_s < now_s + 1.5 * kFrameS)
        steps = std::max<int64_t>(1, std::llround((due_s - now_s) / dt));
    }
    std::vector<uint64_t> counts;
    {
      std::lock_guard<std::mutex> lock(frames_mutex_);
      for (auto &f : frames_) counts.push_back(f.count);
    }
    StepPhysics(steps);
    int extra = 0;
    if (!cameras_.empty()) {
      // every camera must have rendered at this step's time
      for (;;) {
        std::unique_lock<std::mutex> lock(frames_mutex_);
        bool fresh = frames_cv_.wait_for(lock, std::chrono::milliseconds(extra == 0 ? 1000 : 100), [&] {
          for (size_t i = 0; i < frames_.size(); ++i)
            if (frames_[i].count == counts[i] || frames_[i].stamp_s < now_s + dt / 2) return false;
          return true;
        });
        lock.unlock();
        if (fresh) break;
        if (++extra > 100) throw std::runtime_error("no camera frame after 100 extra physics steps");
        StepPhysics(1);
      }
      std::lock_guard<std::mutex> lock(frames_mutex_);
      for (size_t i = 0; i < frames_.size(); ++i) {
        sensor_msgs::Image img;
        img.header.stamp.fromSec(frames_[i].stamp_s);
        img.header.frame_id = std::to_string(int64_t(seq)) + " " + std::to_string(i);
        img.height = frames_[i].height;
        img.width = frames_[i].width;
        img.encoding = "rgb8";
        img.step = frames_[i].width * 3;
        img.data = frames_[i].data;
        camera_pub_.publish(img);
      }
    }
    for (auto &ray : rays_) {
      sensor_msgs::LaserScan scan;
      scan.header.stamp.fromSec(ray->LastMeasurementTime().Double());
      scan.header.frame_id = std::to_string(int64_t(seq)) + " lidar";
      scan.angle_min = ray->AngleMin().Radian();
      scan.angle_max = ray->AngleMax().Radian();
      scan.angle_increment = ray->AngleResolution();
      scan.range_min = ray->RangeMin();
      scan.range_max = ray->RangeMax();
      std::vector<double> ranges;
      ray->Ranges(ranges);
      scan.ranges.assign(ranges.begin(), ranges.end());
      lidar_pub_.publish(scan);
    }
    auto pose = car->WorldPose();
    auto v = car->WorldLinearVel();
    auto w = car->WorldAngularVel();
    std_msgs::Float64MultiArray s;
    s.data = {seq, world_->SimTime().Double(), pose.Pos().X(), pose.Pos().Y(), pose.Pos().Z(),
              pose.Rot().Roll(), pose.Rot().Pitch(), pose.Rot().Yaw(), v.X(), v.Y(), v.Z(), w.X(), w.Y(), w.Z()};
    {
      std::lock_guard<std::mutex> lock(car_mutex_);
      for (auto &j : hinges_) s.data.push_back(j->Position(0));
      for (auto &j : wheels_) s.data.push_back(j->GetVelocity(0));
    }
    s.data.push_back(extra);
    s.data.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall0).count());
    state_pub_.publish(s);
  }

  // ------------------------------------------------------------------ controllers (each physics step)
  void OnUpdate(const common::UpdateInfo &) {
    std::lock_guard<std::mutex> lock(car_mutex_);
    if (!car_) return;
    const double dt = world_->Physics()->GetMaxStepSize();
    for (size_t i = 0; i < wheels_.size(); ++i)
      wheels_[i]->SetForce(0, clamp_effort(kWheelP[i] * (wheel_target_ - wheels_[i]->GetVelocity(0))));
    for (size_t i = 0; i < hinges_.size(); ++i) {
      const double error = steer_target_ - hinges_[i]->Position(0);
      const double d_error = (error - hinge_prev_error_[i]) / dt;
      hinge_prev_error_[i] = error;
      hinges_[i]->SetForce(0, clamp_effort(kHingeP * error + kHingeD * d_error));
    }
  }

  physics::WorldPtr world_;
  std::unique_ptr<ros::NodeHandle> nh_;
  std::unique_ptr<ros::AsyncSpinner> spinner_;
  ros::Publisher events_pub_, state_pub_, camera_pub_, lidar_pub_;
  ros::Subscriber world_sub_, command_sub_;
  event::ConnectionPtr update_;

  std::thread worker_;
  std::mutex jobs_mutex_;
  std::condition_variable jobs_cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  int world_count_ = 0;
  std::string car_key_;    // the sensors of the car in the world ("" before the first one)
  std::string track_key_;  // the track in the world (its files' and SDF's digest; "" none)

  std::mutex car_mutex_;  // car_, joints, targets: shared with the physics thread
  physics::ModelPtr car_;
  std::vector<physics::JointPtr> wheels_, hinges_;
  double wheel_target_ = 0.0, steer_target_ = 0.0;
  std::vector<double> hinge_prev_error_ = {0.0, 0.0};
  std::vector<physics::ModelPtr> objects_;  // the world's boxes and bot cars, in the "objects" order
  std::vector<std::string> object_names_;

  size_t expected_cameras_ = 1;
  size_t expected_lidars_ = 0;
  std::vector<sensors::RaySensorPtr> rays_;
  std::vector<sensors::CameraSensorPtr> cameras_;
  std::vector<std::string> camera_names_;
  std::vector<event::ConnectionPtr> camera_links_;
  std::mutex frames_mutex_;
  std::condition_variable frames_cv_;
  std::vector<Frame> frames_;
};

GZ_REGISTER_WORLD_PLUGIN(DeepRacerBridge)
}  // namespace gazebo

//! A language model that can be down. When the model server refuses, fails or hangs, the
//! customer must still be answered (the extractive answer, or a hand-over when the knowledge
//! has none) and no reply job may die for it. [`Resilient`] puts the extractive model behind
//! the configured one: each call that fails with a model error is answered by the fallback, a
//! call that takes longer than its deadline counts as failed, and after a failure the model is
//! left alone for a cool-down so that the next customers do not each wait out the same outage.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    AnswerRequest, ChatModel, ConversationBrief, DeltaSink, Extractive, Generated, MemoryUpdate,
    ModelAnswer, Persona, ToolRequest, Translation,
};
use crate::context::{CustomerContext, Turn};
use crate::llm::{LlmError, ToolTurn};
use crate::{Error, Result};

/// How long a failed model is skipped, and how long one call may take.
#[derive(Debug, Clone, Copy)]
pub struct FallbackPolicy {
    pub cool_down: Duration,
    pub deadline: Duration,
}

impl Default for FallbackPolicy {
    fn default() -> Self {
        Self {
            cool_down: Duration::from_secs(30),
            deadline: Duration::from_secs(45),
        }
    }
}

pub struct Resilient {
    primary: Box<dyn ChatModel>,
    fallback: Extractive,
    policy: FallbackPolicy,
    /// When the primary last failed, if it is still cooling down.
    failed_at: Mutex<Option<Instant>>,
    fallbacks: AtomicU64,
}

impl Resilient {
    pub fn new(primary: Box<dyn ChatModel>, policy: FallbackPolicy) -> Self {
        Self {
            primary,
            fallback: Extractive::new(),
            policy,
            failed_at: Mutex::new(None),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// Calls answered by the fallback since start (for metrics and tests).
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    fn cooling_down(&self) -> bool {
        let failed = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        failed.is_some_and(|at| at.elapsed() < self.policy.cool_down)
    }

    /// The primary's answer, or `None` when it failed (or is cooling down) and the fallback
    /// must answer. Errors that are not the model's (the store, a prompt) are returned.
    async fn try_primary<T>(
        &self,
        stage: &'static str,
        call: impl std::future::Future<Output = Result<T>> + Send,
    ) -> Result<Option<T>> {
        if self.cooling_down() {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let outcome = match tokio::time::timeout(self.policy.deadline, call).await {
            Ok(Ok(value)) => {
                *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = None;
                return Ok(Some(value));
            }
            Ok(Err(Error::Model(e))) => e,
            Ok(Err(other)) => return Err(other),
            Err(_) => LlmError::Timeout {
                after: self.policy.deadline,
                attempts: 0,
            },
        };
        tracing::warn!(stage, error = %outcome, cool_down = ?self.policy.cool_down,
            "the language model failed; the extractive model answers instead");
        *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        Ok(None)
    }
}

#[async_trait]
impl ChatModel for Resilient {
    fn name(&self) -> &str {
        self.primary.name()
    }

    fn retune(&self, tuning: &crate::settings::ModelTuning) {
        self.primary.retune(tuning);
    }

    async fn rewrite_query(
        &self,
        question: &str,
        customer: &CustomerContext,
    ) -> Result<Generated<String>> {
        match self
            .try_primary("rewrite", self.primary.rewrite_query(question, customer))
            .await?
        {
            Some(g) => Ok(g),
            None => self.fallback.rewrite_query(question, customer).await,
        }
    }

    async fn answer(
        &self,
        request: &AnswerRequest<'_>,
        mut on_delta: Option<DeltaSink<'_>>,
    ) -> Result<Generated<ModelAnswer>> {
        let primary = self.primary.answer(
            request,
            on_delta.as_mut().map(|s| &mut **s as DeltaSink<'_>),
        );
        match self.try_primary("answer", primary).await? {
            Some(g) => Ok(g),
            None => self.fallback.answer(request, on_delta).await,
        }
    }

    async fn summarize_journey(
        &self,
        reason: &str,
        customer: &CustomerContext,
        persona: &Persona,
    ) -> Result<Generated<String>> {
        let primary = self.primary.summarize_journey(reason, customer, persona);
        match self.try_primary("summary", primary).await? {
            Some(g) => Ok(g),
            None => {
                self.fallback
                    .summarize_journey(reason, customer, persona)
                    .await
            }
        }
    }

    async fn update_memory(
        &self,
        customer: &CustomerContext,
        conversations: &[ConversationBrief],
        product_names: &[String],
    ) -> Result<Generated<MemoryUpdate>> {
        let primary = self
            .primary
            .update_memory(customer, conversations, product_names);
        match self.try_primary("memory", primary).await? {
            Some(g) => Ok(g),
            None => {
                self.fallback
                    .update_memory(customer, conversations, product_names)
                    .await
            }
        }
    }

    async fn extract_faq(&self, turns: &[Turn]) -> Result<Generated<Option<(String, String)>>> {
        match self
            .try_primary("faq", self.primary.extract_faq(turns))
            .await?
        {
            Some(g) => Ok(g),
            None => self.fallback.extract_faq(turns).await,
        }
    }

    /// An agent asked for it and waits: the model's own error says more than a fallback could
    /// (the extractive model does not translate).
    async fn translate(&self, text: &str, target: &str) -> Result<Option<Generated<Translation>>> {
        self.primary.translate(text, target).await
    }

    async fn tool_turn(&self, request: &ToolRequest<'_>) -> Result<Option<Generated<ToolTurn>>> {
        match self
            .try_primary("tools", self.primary.tool_turn(request))
            .await?
        {
            Some(turn) => Ok(turn),
            // Without the model, actions are matched by their example messages.
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model whose server is down: every call fails as the client would after its retries.
    struct Down {
        calls: std::sync::Arc<AtomicU64>,
        hang: bool,
    }

    #[async_trait]
    impl ChatModel for Down {
        fn name(&self) -> &str {
            "down"
        }
        async fn rewrite_query(&self, _q: &str, _c: &CustomerContext) -> Result<Generated<String>> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if self.hang {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Err(Error::Model(LlmError::Status {
                status: 503,
                body: "overloaded".into(),
            }))
        }
        async fn answer(
            &self,
            _r: &AnswerRequest<'_>,
            _s: Option<DeltaSink<'_>>,
        ) -> Result<Generated<ModelAnswer>> {
            unreachable!("not called in these tests")
        }
        async fn summarize_journey(
            &self,
            _r: &str,
            _c: &CustomerContext,
            _p: &Persona,
        ) -> Result<Generated<String>> {
            unreachable!()
        }
        async fn update_memory(
            &self,
            _c: &CustomerContext,
            _b: &[ConversationBrief],
            _p: &[String],
        ) -> Result<Generated<MemoryUpdate>> {
            unreachable!()
        }
        async fn extract_faq(&self, _t: &[Turn]) -> Result<Generated<Option<(String, String)>>> {
            unreachable!()
        }
    }

    fn customer() -> CustomerContext {
        CustomerContext {
            customer: crate::context::CustomerView {
                contact_id: 1,
                name: None,
                summary: String::new(),
                facts: Vec::new(),
                channels: Vec::new(),
            },
            history: Vec::new(),
            open_escalation: None,
        }
    }

    #[tokio::test]
    async fn a_failing_model_is_answered_for_and_then_left_alone_for_a_while() {
        let calls = std::sync::Arc::new(AtomicU64::new(0));
        let down = Down {
            calls: calls.clone(),
            hang: false,
        };
        let model = Resilient::new(Box::new(down), FallbackPolicy::default());
        let customer = customer();
        for _ in 0..3 {
            let rewritten = model
                .rewrite_query("where is my order", &customer)
                .await
                .expect("the fallback answers");
            assert_eq!(rewritten.model, super::super::extractive::NAME);
        }
        assert_eq!(model.fallbacks(), 3);
        assert_eq!(
            calls.load(Ordering::Relaxed),
            1,
            "left alone while cooling down"
        );
    }

    #[tokio::test]
    async fn a_hanging_model_is_given_up_at_the_deadline() {
        let down = Down {
            calls: Default::default(),
            hang: true,
        };
        let policy = FallbackPolicy {
            deadline: Duration::from_millis(50),
            ..FallbackPolicy::default()
        };
        let model = Resilient::new(Box::new(down), policy);
        let rewritten = model
            .rewrite_query("where is my order", &customer())
            .await
            .expect("the fallback answers");
        assert_eq!(rewritten.model, super::super::extractive::NAME);
    }
}

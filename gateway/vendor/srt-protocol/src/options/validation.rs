use std::ops::Deref;

pub trait Validation: Sized {
    type Error;

    fn is_valid(&self) -> Result<(), Self::Error>;

    fn try_validate(self) -> Result<Valid<Self>, Self::Error> {
        self.is_valid()?;
        Ok(Valid(self))
    }
}

pub trait CompositeValidation: Validation {
    fn is_valid_composite(&self) -> Result<(), <Self as Validation>::Error>;
}

pub trait OptionsOf<C>: CompositeValidation {
    fn set_options(&mut self, value: C);
}

impl<C> OptionsOf<C> for C
where
    C: CompositeValidation,
{
    fn set_options(&mut self, value: C) {
        *self = value;
    }
}

#[derive(Debug, Default, Clone, Eq, PartialEq)]
pub struct Valid<T: Validation>(T);

impl<T: Validation> Deref for Valid<T> {
    type Target = T;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T: Validation> Valid<T> {
    pub fn into_value(self) -> T {
        self.0
    }

    pub fn set(self, set_fn: impl FnOnce(&mut T)) -> Result<Self, <T as Validation>::Error> {
        let mut inner = self.0;
        set_fn(&mut inner);
        inner.try_validate()
    }

    pub fn with<F>(self, options: F) -> Result<Self, <T as Validation>::Error>
    where
        T: OptionsOf<F>,
        F: Validation<Error = <T as Validation>::Error>,
    {
        let mut inner = self.0;
        inner.set_options(options.try_validate()?.0);
        inner.is_valid_composite()?;
        Ok(Self(inner))
    }

    pub fn with2<F1, F2>(self, options1: F1, options2: F2) -> Result<Self, <T as Validation>::Error>
    where
        T: OptionsOf<F1> + OptionsOf<F2>,
        F1: Validation<Error = <T as Validation>::Error>,
        F2: Validation<Error = <T as Validation>::Error>,
    {
        let mut inner = self.0;
        inner.set_options(options1.try_validate()?.0);
        inner.set_options(options2.try_validate()?.0);
        inner.is_valid_composite()?;
        Ok(Self(inner))
    }

    pub fn with3<F1, F2, F3>(
        self,
        options1: F1,
        options2: F2,
        options3: F3,
    ) -> Result<Self, <T as Validation>::Error>
    where
        T: OptionsOf<F1> + OptionsOf<F2> + OptionsOf<F3>,
        F1: Validation<Error = <T as Validation>::Error>,
        F2: Validation<Error = <T as Validation>::Error>,
        F3: Validation<Error = <T as Validation>::Error>,
    {
        let mut inner = self.0;
        inner.set_options(options1.try_validate()?.0);
        inner.set_options(options2.try_validate()?.0);
        inner.set_options(options3.try_validate()?.0);
        inner.is_valid_composite()?;
        Ok(Self(inner))
    }
}
